"""The module-level app that uvicorn imports: `uvicorn service.main:app`."""

from service.app import create_app

app = create_app()
