"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers has ``type`` (``urn:stopsms:problem:<code>``), ``title``,
``status``, ``detail`` (one sentence naming the value) and a stable ``code``; a validation
error adds ``field``, the request field at fault (``to``, ``text``, ``Idempotency-Key``…).
FastAPI's own 422 (a missing field, a wrong JSON type) is rewritten into this shape, so a
client reads one form of error whatever refused the request.

The mapping of service errors: a refused message keeps its own code
(:class:`~stopsms.services.direct.Refused`, 422); an unusable value is ``invalid_field`` (422);
something missing in this account is ``not_found`` (404, also for another account's: never a
403 that would confirm it exists); a taken name ``already_exists`` (409); the database out of
reach ``database_unavailable`` (503).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from stopsms.app import DatabaseFailed
from stopsms.domain.errors import (
    DomainError,
    InvalidPhoneNumber,
    InvalidSender,
    StopsmsError,
    UnknownPolicy,
)
from stopsms.errors import AlreadyExists, InvalidInput, NotFound
from stopsms.services.access.keys import RevokedKey
from stopsms.services.compliance import InvalidRequest
from stopsms.services.direct import Refused
from stopsms.store.database import DatabaseUnavailable

__all__ = ["PROBLEM_JSON", "Problem", "ProblemBody", "install", "problem_responses"]

PROBLEM_JSON = "application/problem+json"
_LOG = logging.getLogger("stopsms.api")


class ProblemBody(BaseModel):
    """An RFC 9457 problem, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None


class Problem(Exception):
    """Answer the request with a problem (raise it from a route or a dependency)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entry of a route that may answer these problems."""
    return {
        status: {
            "model": ProblemBody,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


def _answer(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:stopsms:problem:{problem.code}",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
    }
    if problem.field is not None:
        body["field"] = problem.field
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


#: The field a domain error names, when the route did not say.
_FIELDS: tuple[tuple[type[DomainError], str], ...] = (
    (InvalidPhoneNumber, "to"),
    (InvalidSender, "sender"),
    (UnknownPolicy, "window_policy"),
)


def from_error(error: StopsmsError) -> Problem:
    """The problem a service or domain error is answered with (see the module)."""
    detail = str(error)
    if isinstance(error, RevokedKey):  # revoked while its request waited for the intake
        return Problem(
            401,
            "invalid_api_key",
            "the API key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(error, Refused):
        return Problem(422, error.code, detail, field=error.field)
    if isinstance(error, InvalidInput):
        return Problem(422, "invalid_field", detail, field=error.field)
    if isinstance(error, InvalidRequest):
        return Problem(422, "invalid_field", detail, field=error.field_name)
    if isinstance(error, NotFound):
        return Problem(404, "not_found", detail)
    if isinstance(error, AlreadyExists):
        return Problem(409, "already_exists", detail)
    if isinstance(error, DatabaseUnavailable | DatabaseFailed):
        _LOG.warning("answered 503: %s", error)  # the driver's sentence, for the operator
        return Problem(503, "database_unavailable", "the database is out of reach; try again")
    for kind, field in _FIELDS:
        if isinstance(error, kind):
            return Problem(422, "invalid_field", detail, field=field)
    return Problem(422, "refused", detail)


def _field(location: Sequence[Any]) -> str:
    """``("body", "to")`` → ``to``; ``("header", "idempotency-key")`` → ``Idempotency-Key``."""
    where, *rest = location or ("body",)
    if where == "header" and rest:
        return "-".join(part.capitalize() for part in str(rest[0]).split("-"))
    parts = [str(p) for p in rest if not isinstance(p, int)] or [str(where)]
    return ".".join(parts)


def _validation(error: RequestValidationError) -> Problem:
    first = error.errors()[0]
    location = tuple(first.get("loc", ()))
    field = _field(location)
    message = str(first.get("msg", "invalid")).rstrip(".")
    if first.get("type") == "json_invalid":
        return Problem(422, "invalid_json", f"the body is not valid JSON: {message}", field="body")
    return Problem(422, "invalid_field", f"{field}: {message}", field=field)


def install(server: FastAPI) -> None:
    """Answer every error of ``server`` as a problem."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return _answer(exc)

    async def on_stopsms(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StopsmsError)
        return _answer(from_error(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _answer(_validation(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        return _answer(Problem(exc.status_code, code, detail, headers=exc.headers))

    server.add_exception_handler(Problem, on_problem)
    server.add_exception_handler(StopsmsError, on_stopsms)
    server.add_exception_handler(RequestValidationError, on_validation)
    server.add_exception_handler(StarletteHTTPException, on_http)
