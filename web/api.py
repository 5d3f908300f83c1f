"""A small declarative layer over Starlette routes: parsing, auth, CSRF, OpenAPI.

Each HTTP operation is declared once with ``@API.op(...)``; the same declaration
builds the Starlette route and its entry in ``/api/openapi.json``, so the
description cannot drift from the code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.errors import DomainError
from storage.models import User
from storage.repo.api_keys import KeyInfo
from web.errors import ApiError
from web.services import Services, services_of

# "key": a server API key (web/key_auth.py) holding the operation's ``scope``.
Auth = Literal["public", "user", "admin", "key"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_JSON_BYTES = 1024 * 1024


M = TypeVar("M", bound=BaseModel)


@dataclass
class Ctx:
    """What a handler gets: the request, the signed-in user, the parsed input.

    ``body`` and ``query`` are the operation's declared models, parsed; a handler
    reads them typed with ``ctx.body_as(Model)`` / ``ctx.query_as(Model)``.
    """

    request: Request
    user: User | None
    body: BaseModel | None
    query: BaseModel | None
    key: KeyInfo | None = None  # the API key of an operation declared auth="key"

    @property
    def services(self) -> Services:
        return services_of(self.request)

    def body_as(self, model: type[M]) -> M:
        return _declared(self.body, model, "body")

    def query_as(self, model: type[M]) -> M:
        return _declared(self.query, model, "query")

    @property
    def ip(self) -> str:
        return self.request.client.host if self.request.client else ""

    @property
    def api_key(self) -> KeyInfo:
        if self.key is None:  # the operation was not declared auth="key": our own misuse
            raise RuntimeError("Ctx.api_key used outside an API-key operation")
        return self.key

    @property
    def me(self) -> User:
        if self.user is None:  # the operation was declared public: our own misuse
            raise RuntimeError("Ctx.me used in a public operation")
        return self.user

    def path_int(self, name: str) -> int:
        """An integer path parameter; one no row can have is a 404, never a 500."""
        value = self.request.path_params[name]
        try:
            number = int(value)
        except ValueError:
            raise ApiError(404, "not_found", f"{name} must be a positive integer") from None
        if not 0 < number <= MAX_ID:
            raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
        return number

    def path_str(self, name: str) -> str:
        value = str(self.request.path_params[name])
        check_text(value, name)
        return value


def _declared(value: BaseModel | None, model: type[M], what: str) -> M:
    if not isinstance(value, model):  # the operation declared another model: our own misuse
        raise TypeError(f"the operation's {what} is {type(value).__name__}, not {model.__name__}")
    return value


Handler = Callable[[Ctx], Awaitable[Any]]

# Ids are 64-bit on PostgreSQL: a bigger number cannot name a row, and must not
# reach the driver (it would raise an overflow, i.e. a 500).
MAX_ID = 2**63 - 1


def check_text(value: Any, where: str = "(body)") -> None:
    """Refuse values the databases cannot store: NUL characters, lone surrogates,
    integers beyond 64 bits.

    PostgreSQL rejects NUL in text, UTF-8 cannot encode a lone surrogate, and
    neither database takes an integer over 64 bits; each would otherwise
    surface as a driver error, i.e. a 500.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_ID - 1 <= value <= MAX_ID:
            raise ApiError(422, "invalid", f"{where}: the number is out of range")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ApiError(422, "invalid", f"{where}: NUL characters are not allowed")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(422, "invalid", f"{where}: not valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}" if where != "(body)" else str(key))
    elif isinstance(value, list):
        for item in value:
            check_text(item, where)


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _summarise(details: list[dict[str, str]]) -> str:
    first = details[0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{first['field']}: {first['problem']}{more}"


async def parse_json_body(request: Request, model: type[BaseModel]) -> BaseModel:
    from web.body_limits import read_body

    raw = await read_body(request, MAX_JSON_BYTES)
    ctype = request.headers.get("content-type", "")
    if raw and "json" not in ctype:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    try:
        check_text(data)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if isinstance(data, dict):
        # A misspelt field must not be dropped in silence ("room" for "location" would
        # otherwise be answered with "nothing changed"): every body refuses unknown keys.
        known = {name for name, f in model.model_fields.items()} | {
            f.alias for f in model.model_fields.values() if f.alias
        }
        unknown = sorted(k for k in data if k not in known)
        if unknown:
            details = [
                {
                    "field": k,
                    "problem": "unknown field; expected one of: "
                    + (", ".join(sorted(known)) or "none"),
                }
                for k in unknown
            ]
            raise ApiError(422, "invalid", _summarise(details), details=details)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        details = _validation_details(exc)
        raise ApiError(422, "invalid", _summarise(details), details=details) from None
    try:
        check_text(parsed.model_dump())
    except RecursionError:  # pragma: no cover - bounded by the JSON check above
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    return parsed


def parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    check_text(dict(request.query_params), "query")
    try:
        parsed = model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        details = _validation_details(exc)
        raise ApiError(422, "invalid", _summarise(details), details=details) from None
    # Numbers parsed from the query string: none may exceed what a database holds.
    check_text(parsed.model_dump(), "query")
    return parsed


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    content_type: str | None = None  # a non-JSON request body, e.g. multipart/form-data
    # Media types of the success body; several where a query parameter picks one (exports).
    produces: str | tuple[str, ...] = "application/json"
    extra_responses: dict[int, str] = field(default_factory=dict)
    form_schema: dict[str, Any] | None = None  # OpenAPI schema of a non-JSON body
    # Also open to an account in its termination grace month (reactivate, export, delete).
    terminating_ok: bool = False
    # A write counted against the user's WRITE_RATE / WRITE_BURST (every write but sign-out).
    write_limited: bool = True
    scope: str | None = None  # the API-key scope an auth="key" operation needs
    examples: dict[str, Any] | None = None  # an example request body (OpenAPI)


class Api:
    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def op(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        auth: Auth = "user",
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        tags: tuple[str, ...] = (),
        content_type: str | None = None,
        produces: str | tuple[str, ...] = "application/json",
        errors: dict[int, str] | None = None,
        form_schema: dict[str, Any] | None = None,
        terminating_ok: bool = False,
        write_limited: bool = True,
        scope: str | None = None,
        example: dict[str, Any] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method.upper(),
                    path,
                    fn,
                    summary,
                    auth,
                    body,
                    query,
                    response,
                    status,
                    tags,
                    content_type,
                    produces,
                    errors or {},
                    form_schema,
                    terminating_ok,
                    write_limited,
                    scope,
                    example,
                )
            )
            return fn

        return register

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        return [
            Route(path, _endpoint(ops), methods=list(ops), name=f"api:{path}")
            for path, ops in by_path.items()
        ]


def _endpoint(ops: dict[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        from web.auth import check_csrf, current_user

        op = ops.get(request.method) or (ops.get("GET") if request.method == "HEAD" else None)
        if op is None:
            raise ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
        if op.auth == "key":
            return await _key_call(request, op)
        user = await current_user(request, allow_terminating=op.terminating_ok)
        if op.auth != "public":
            if user is None:
                raise ApiError(401, "unauthenticated", "sign in first")
            if op.auth == "admin" and not user.is_admin:
                raise ApiError(403, "forbidden", "only admins may do this")
        if request.method not in SAFE_METHODS:
            check_csrf(request, user)
            if user is not None and op.write_limited:
                await _take_write(request, user)
        body = await parse_json_body(request, op.body) if op.body is not None else None
        query = parse_query(request, op.query) if op.query is not None else None
        return _answer(op, await op.handler(Ctx(request, user, body, query)))

    return endpoint


def _answer(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    return JSONResponse(result, status_code=op.status)


async def _key_call(request: Request, op: Operation) -> Response:
    """An operation of the server API: the key, its scope and rate, then the handler; every
    call of a known key is one activity-log line, whatever its answer."""
    from web.key_auth import key_of, log_call, require_scope

    key = await key_of(request)
    status = 500
    try:
        require_scope(key, op.scope)
        body = await parse_json_body(request, op.body) if op.body is not None else None
        query = parse_query(request, op.query) if op.query is not None else None
        response = _answer(op, await op.handler(Ctx(request, None, body, query, key)))
        status = response.status_code
        return response
    except DomainError as exc:
        status = exc.status
        raise
    finally:
        await log_call(request, key, status)


async def _take_write(request: Request, user: User) -> None:
    """A signed-in user's write, refused (429) past their WRITE_RATE / WRITE_BURST: before
    the body is read, on every process together with Redis (realtime/limits/user_limit.py)."""
    hub = services_of(request).hub
    if hub is None:  # no lifespan (no hub, no limits): a test's bare app
        return
    wait: float = await hub.write_limit.take(user.id)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many changes in a short time; try again in {wait:.1f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
            details={"retry_after": round(wait, 3)},
        )


PATH_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")

API = Api()
