"""Start-up failures the operator can fix (a bad model directory, unreadable API keys) as one line.

The lifespan logs such a failure as one line ("cannot start: ...") and re-raises it. Starlette then
hands the server the full traceback as the failure message, which uvicorn would print; this
middleware drops that message for TextCNNError, so the log holds the one line and uvicorn's own
"Application startup failed. Exiting." and the process exits non-zero. Any other error keeps its
traceback.
"""

import sys

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from textcnn import TextCNNError


class QuietStartupFailure:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            # Starlette sends startup.failed from inside its `except` block, so the error is current.
            if message["type"] == "lifespan.startup.failed" and isinstance(sys.exception(), TextCNNError):
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, send_quietly)
