"""Errors of the JSON endpoints: ``{"error": message, "status": code, "parameter": name}`` bodies, never a stack
trace (a database outage is 503; anything unexpected is 500 with a generic message and a logged traceback)."""

from __future__ import annotations

import logging

from flask import Flask, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from app.params import ParamError

log = logging.getLogger(__name__)

#: Paths whose errors are answered in JSON (the Dash pages keep Flask's HTML errors).
JSON_PREFIXES = ("/api/", "/metrics")


def short_error(exc: BaseException) -> str:
    """The first line of ``exc``'s message (for one-line logs)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _error(status: int, message: str, parameter: str | None = None) -> tuple[dict, int]:
    body = {"error": message, "status": status}
    if parameter is not None:
        body["parameter"] = parameter
    return body, status


def register_error_handlers(app: Flask) -> None:
    """JSON errors for :data:`JSON_PREFIXES` paths: :class:`ParamError` -> 400/404 naming the parameter,
    HTTP errors (404 route, 405, 429 rate limit) -> their status, database errors -> 503, anything else -> 500
    with a generic message (logged with its traceback, never sent). Other paths get Flask's plain HTML error
    pages with the same status codes."""

    def wants_json() -> bool:
        return request.path.startswith(JSON_PREFIXES)

    @app.errorhandler(ParamError)
    def param_error(exc: ParamError):
        return _error(exc.status, str(exc), exc.parameter)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not wants_json():
            return exc
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError):
        log.error("database error on %s: %s", request.path, exc)
        return _error(503, "database unavailable; try again shortly") if wants_json() else ServiceUnavailable()

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return _error(500, "internal error; it has been logged") if wants_json() else InternalServerError()
