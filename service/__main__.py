"""`textcnn-serve` / `python -m service`: run the app under uvicorn with TEXTCNN_* settings.

Logs go through service.observability (JSON by default, uvicorn's included). A bad setting or a
model directory that cannot be loaded stops the process with one line saying why and a non-zero
exit status; on SIGTERM uvicorn stops accepting and drains in-flight requests for up to
TEXTCNN_SHUTDOWN_TIMEOUT_S.
"""

import logging
import sys

import uvicorn
from pydantic import ValidationError

from service.observability import configure_logging
from service.settings import Settings

logger = logging.getLogger("service")


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"TEXTCNN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        logging.basicConfig(format="%(levelname)s %(message)s")
        logger.critical("cannot start: %s", problems)
        sys.exit(2)
    configure_logging(settings)
    uvicorn.run(
        "service.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,  # service.observability writes one access line per request, with its id
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        # A server that closes an idle connection races the client's next request on it, which then
        # fails without an answer; the client side closing it first never loses a request.
        timeout_keep_alive=settings.keep_alive_s,
    )


if __name__ == "__main__":
    main()
