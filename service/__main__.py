"""`textcnn-serve` / `python -m service`: run the app under uvicorn with TEXTCNN_* settings.

`--help` lists every setting; `--host`, `--port`, `--model-dir` and `--workers` override their
variables. A flag is passed on as its variable, because each uvicorn worker reads its settings from
the environment afresh (service/main.py).
Logs go through service.observability (JSON by default, uvicorn's included). A bad setting or a
model directory that cannot be loaded stops the process with one line saying why and a non-zero
exit status; on SIGTERM uvicorn stops accepting and drains in-flight requests for up to
TEXTCNN_SHUTDOWN_TIMEOUT_S.
"""

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import uvicorn
from pydantic import ValidationError

from service import runtime, workers
from service.observability import configure_logging
from service.settings import Settings, unknown_variables
from textcnn import DEFAULT_MODEL_DIR

logger = logging.getLogger("service")

# The settings an operator most often changes per run; every other one is a variable only.
FLAGS = ("host", "port", "model_dir", "workers")
APP = "service.main:app"


def variable(name: str) -> str:
    return f"TEXTCNN_{name.upper()}"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parser() -> argparse.ArgumentParser:
    """The command line: the four flags, and every TEXTCNN_* variable in the help's epilog."""
    fields = Settings.model_fields
    command = argparse.ArgumentParser(
        prog="textcnn-serve",
        description=textwrap.fill(
            "Serve a textcnn model over HTTP: POST /classify and /summarize, the demo page at /, the API "
            "docs at /docs. Settings come from TEXTCNN_* environment variables; a flag overrides its "
            "variable.",
            width=100,
        ),
        epilog="environment variables:\n" + "\n".join(_describe(n) for n in fields),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in FLAGS:
        command.add_argument(
            flag(name),
            metavar=variable(name).removeprefix("TEXTCNN_"),
            help=f"{fields[name].description}; overrides {variable(name)} (default: {_default(name)})",
        )
    return command


def _default(name: str) -> str:
    default = Settings.model_fields[name].default
    if default is None:
        return "unset"
    if default == DEFAULT_MODEL_DIR:
        return "the embedded default model"
    return str(default) or '""'


def _describe(name: str) -> str:
    head = f"  {variable(name)} (default: {_default(name)})"
    text = Settings.model_fields[name].description or ""
    return head + "\n" + textwrap.fill(text, width=100, initial_indent=" " * 6, subsequent_indent=" " * 6)


def main(argv: Sequence[str] | None = None) -> None:
    given = {name: value for name, value in vars(parser().parse_args(argv)).items() if value is not None}
    os.environ.update({variable(name): value for name, value in given.items()})
    try:
        settings = Settings()
    except ValidationError as error:
        # A check across settings (loc empty) names its variables in its own message; a bad value
        # given as a flag is named by its flag.
        problems = "; ".join(
            f"{_source(str(e['loc'][0]), given)}: {e['msg']}" if e["loc"] else e["msg"]
            for e in error.errors()
        )
        logging.basicConfig(format="%(levelname)s %(message)s")
        logger.critical("cannot start: %s", problems)
        sys.exit(2)
    configure_logging(settings)
    for name in unknown_variables():
        logger.warning("%s is not a setting and is ignored (misspelt?)", name)
    runtime.room_for_connections(settings.max_connections)
    options: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # service.observability writes one access line per request, with its id
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        # A server that closes an idle connection races the client's next request on it, which then
        # fails without an answer; the client side closing it first never loses a request.
        timeout_keep_alive=settings.keep_alive_s,
        http="service.http:GuardedHttpTools",
        h11_max_incomplete_event_size=settings.max_header_bytes,  # where h11 is used instead
    )
    if settings.workers > 1 and workers.SPREADS_CONNECTIONS:
        sys.exit(workers.supervise(uvicorn.Config(APP, **options), settings.workers))
    uvicorn.run(APP, workers=settings.workers, **options)


def _source(name: str, given: dict[str, str]) -> str:
    return flag(name) if name in given else variable(name)


if __name__ == "__main__":
    main()
