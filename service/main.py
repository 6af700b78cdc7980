"""The module-level app that uvicorn imports: `uvicorn service.main:app`.

Each uvicorn worker process imports this module afresh (with TEXTCNN_WORKERS above 1 they are
spawned, not forked), so logging is configured here as well as in `python -m service`: otherwise
the workers would write no access lines and plain-text errors.
"""

from service.app import create_app
from service.observability import configure_logging
from service.settings import Settings

settings = Settings()
configure_logging(settings)
app = create_app(settings)
