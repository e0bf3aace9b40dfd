"""ASGI entry point for uvicorn: `uvicorn --factory app.main:create_app_from_env`."""

from __future__ import annotations

from starlette.applications import Starlette

from app.logs import configure_logging
from app.settings import Settings
from app.web import create_app


def create_app_from_env() -> Starlette:
    # Each uvicorn worker process starts here, so each configures its own logging.
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
