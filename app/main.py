"""ASGI entry point for uvicorn: `uvicorn --factory app.main:create_app_from_env`."""

from __future__ import annotations

from starlette.applications import Starlette

from app.collector import settle_startup_objects
from app.logs import configure_logging
from app.settings import Settings
from app.web import create_app


def create_app_from_env() -> Starlette:
    # Each uvicorn worker process starts here, so each configures its own logging.
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    # What start-up made lives as long as the process: no collection need walk it again.
    settle_startup_objects()
    return app
