"""ASGI entry point for uvicorn: `uvicorn --factory app.main:create_app_from_env`."""

from __future__ import annotations

from starlette.applications import Starlette

from app.settings import Settings
from app.web import create_app


def create_app_from_env() -> Starlette:
    return create_app(Settings())
