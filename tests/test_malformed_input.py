"""Every HTTP operation answers malformed input with a 4xx in the one error shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import login, make_user
from web.api import API, PATH_PARAM, Operation

HUGE = "9" * 30  # beyond any 64-bit id


def _url(op: Operation, int_value: str) -> str:
    def fill(match: Any) -> str:
        return int_value if match.group(2) == "int" else "x%00y"

    return PATH_PARAM.sub(fill, op.path)


def _malformed(op: Operation) -> list[tuple[str, dict[str, Any]]]:
    """(url, request kwargs) pairs that are each wrong in some way the op must refuse."""
    cases: list[tuple[str, dict[str, Any]]] = []
    url = _url(op, "1")
    if PATH_PARAM.search(op.path):
        cases.append((_url(op, HUGE), {"json": {}} if op.body is not None else {}))
    if op.body is not None:
        json_ct = {"content-type": "application/json"}
        cases.append((url, {"content": b"{not json", "headers": json_ct}))
        cases.append((url, {"content": b"[1, 2", "headers": json_ct}))
        cases.append((url, {"json": ["not", "an", "object"]}))
        cases.append((url, {"json": {"\u0000": "\u0000", "unexpected_field": {"x": [None]}}}))
        cases.append((url, {"content": b"<xml/>", "headers": {"content-type": "text/xml"}}))
    if op.content_type is not None:
        cases.append((url, {"json": {"not": "a form"}}))
    if op.query is not None:
        fields = list(op.query.model_json_schema().get("properties", {})) or ["q"]
        cases.append((url, {"params": {name: "\u0000" for name in fields}}))
    return cases


def _operations() -> list[Operation]:
    import web.routes  # noqa: F401 - registers every operation

    return [op for op in API.operations if _malformed(op)]


def _assert_error_shape(r: httpx.Response, what: str) -> None:
    assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert isinstance(error["code"], str) and error["code"], what
    assert isinstance(error["message"], str) and error["message"], what


async def test_every_operation_refuses_malformed_input(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    ops = _operations()
    assert len(ops) >= 15  # the test covers the API, not an empty list
    checked = 0
    for op in ops:
        for url, kwargs in _malformed(op):
            r = await client.request(op.method, url, **kwargs)
            _assert_error_shape(r, f"{op.method} {url} {kwargs}")
            checked += 1
    assert checked >= len(ops)


async def test_anonymous_requests_get_the_error_shape(client: httpx.AsyncClient) -> None:
    for op in _operations():
        if op.auth == "public":
            continue
        r = await client.request(op.method, _url(op, "1"), json={})
        assert r.status_code == 401, (op.method, op.path, r.text)
        _assert_error_shape(r, op.path)


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/api/no-such-thing"), ("PUT", "/api/login"), ("GET", "/api/events/abc")],
)
async def test_unknown_routes_and_methods(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await client.request(method, path)
    _assert_error_shape(r, path)


async def test_a_misspelt_field_is_refused_by_name_not_dropped(
    client: httpx.AsyncClient, services: Any
) -> None:
    """An organiser writing "room" for "location" must hear so, not "nothing changed"."""
    from tests.test_invitations import make_event

    organiser = await make_user(services)
    event = await make_event(services, organiser=organiser)
    await login(client, organiser.email)
    r = await client.post(
        f"/api/events/{event.id}/changes", json={"room": "2.14", "note": "upstairs"}
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["details"][0]["field"] == "room"
    assert "unknown field" in error["message"] and "location" in error["message"]


def test_every_nested_request_model_refuses_unknown_fields() -> None:
    """parse_json_body refuses unknown top-level keys itself; a model inside a body (the
    mail audience) must do it too, or a misspelt field there is dropped in silence."""
    import typing

    from pydantic import BaseModel

    def nested(model: type[BaseModel]) -> list[type[BaseModel]]:
        found = []
        for f in model.model_fields.values():
            stack = [f.annotation]
            while stack:
                t = stack.pop()
                stack.extend(typing.get_args(t))
                if isinstance(t, type) and issubclass(t, BaseModel):
                    found += [t, *nested(t)]
        return found

    import web.routes  # noqa: F401 - registers every operation on API

    inner = {m for op in API.operations if op.body is not None for m in nested(op.body)}
    assert inner, "the mail audience is a nested body model"
    for model in inner:
        assert model.model_config.get("extra") == "forbid", model.__name__
