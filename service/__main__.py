"""`textcnn-serve` / `python -m service`: run the app under uvicorn with TEXTCNN_* settings.

Logs go through service.observability (JSON by default, uvicorn's included). A bad setting or a
model directory that cannot be loaded stops the process with one line saying why and a non-zero
exit status; on SIGTERM uvicorn stops accepting and drains in-flight requests for up to
TEXTCNN_SHUTDOWN_TIMEOUT_S.
"""

import logging
import resource
import sys

import uvicorn
from pydantic import ValidationError

from service.observability import configure_logging
from service.settings import Settings, unknown_variables

logger = logging.getLogger("service")


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as error:
        # A check across settings (loc empty) names its variables in its own message.
        problems = "; ".join(
            f"TEXTCNN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" if e["loc"] else e["msg"]
            for e in error.errors()
        )
        logging.basicConfig(format="%(levelname)s %(message)s")
        logger.critical("cannot start: %s", problems)
        sys.exit(2)
    configure_logging(settings)
    for name in unknown_variables():
        logger.warning("%s is not a setting and is ignored (misspelt?)", name)
    _room_for_connections(settings.max_connections)
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
        http="service.http:GuardedHttpTools",
        h11_max_incomplete_event_size=settings.max_header_bytes,  # where h11 is used instead
    )


def _room_for_connections(connections: int) -> None:
    """Raise the open-file limit to its ceiling, so the connection cap, not the kernel, refuses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if connections + 64 > hard:  # the model files, logs and listening socket need some too
        logger.warning(
            "TEXTCNN_MAX_CONNECTIONS=%d is near the open-file limit of %d: connections beyond it fail "
            "without an answer; lower it or raise the limit",
            connections,
            hard,
        )


if __name__ == "__main__":
    main()
