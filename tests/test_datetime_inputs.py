"""Every time a client sends is refused with 422 outside 1970..2199 (UTC), never a 500.

Issue 13, item 8: ``9999-12-31T23:59:59-14:00`` is a valid aware datetime that lies
past year 9999 in UTC; it gave 500 on 22 endpoint/parameter combinations (event
changes, mail ``send_at``, admin searches). The API walk below finds every time
field of every request body and query model, so a new one is covered too.
"""

from __future__ import annotations

import typing
from typing import Any

import httpx
import pytest

from tests.conftest import login, make_user
from tests.test_invitations import make_event
from web.api import API, Operation
from web.schemas import UtcWhen, When

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-14:00",  # past datetime.max in UTC
    "0001-01-01T00:00:00+14:00",  # before datetime.min in UTC
    "9999-12-31T23:59:59+00:00",
    "1969-12-31T23:59:59Z",
    "2200-01-01T00:00:00Z",
]


def _time_fields(model: Any) -> list[str]:
    def is_time(schema: dict[str, Any]) -> bool:
        if schema.get("format") == "date-time":
            return True
        return any(is_time(s) for s in schema.get("anyOf", []))

    props = model.model_json_schema().get("properties", {})
    return [name for name, schema in props.items() if is_time(schema)]


def _time_inputs() -> list[tuple[Operation, str, str]]:
    import web.routes  # noqa: F401 - registers every operation

    found = []
    for op in API.operations:
        if op.body is not None:
            found += [(op, "body", f) for f in _time_fields(op.body)]
        if op.query is not None:
            found += [(op, "query", f) for f in _time_fields(op.query)]
    return found


def test_every_time_field_uses_the_shared_types() -> None:
    inputs = _time_inputs()
    # events (create, change), event changes, mail send_at, the admin searches and exports
    assert len(inputs) >= 12, [(op.path, f) for op, _, f in inputs]
    checks = {m.func for t in (When, UtcWhen) for m in typing.get_args(t)[1:]}
    for op, where, name in inputs:
        model = op.body if where == "body" else op.query
        assert model is not None
        field = model.model_fields[name]
        found = list(field.metadata)
        stack = [field.annotation]
        while stack:
            t = stack.pop()
            args = typing.get_args(t)
            if typing.get_origin(t) is typing.Annotated:
                found += args[1:]
            else:
                stack.extend(args)
        assert checks & {getattr(m, "func", None) for m in found}, (op.method, op.path, name)


async def test_every_time_input_refuses_out_of_range_values_by_name(
    client: httpx.AsyncClient, services: Any
) -> None:
    admin = await make_user(services, admin=True)
    event = await make_event(services, organiser=admin)
    await login(client, admin.email)
    checked = 0
    for op, where, name in _time_inputs():
        url = op.path.replace("{event_id:int}", str(event.id)).replace("{id:int}", str(event.id))
        for value in OUT_OF_RANGE:
            kwargs: dict[str, Any] = (
                {"json": {name: value}} if where == "body" else {"params": {name: value}}
            )
            r = await client.request(op.method, url, **kwargs)
            what = (op.method, url, name, value, r.status_code, r.text[:300])
            assert r.status_code == 422, what
            fields = [d["field"] for d in r.json()["error"].get("details", [])]
            assert any(f.split(".")[-1] == name or f == name for f in fields), what
            checked += 1
    assert checked >= 12 * len(OUT_OF_RANGE)


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_otherwise_valid_requests_with_such_times_get_422(
    client: httpx.AsyncClient, services: Any, value: str
) -> None:
    admin = await make_user(services, admin=True)
    event = await make_event(services, organiser=admin)
    await login(client, admin.email)
    r = await client.post(
        f"/api/events/{event.id}/changes", json={"starts_at": value, "note": "moved"}
    )
    assert r.status_code == 422, r.text
    r = await client.get("/api/admin/audit", params={"since": value})
    assert r.status_code == 422, r.text
    r = await client.get("/api/admin/activity", params={"until": value})
    assert r.status_code == 422, r.text
    r = await client.post("/api/events", json={
        "title": "Far", "starts_at": "2026-01-01T09:00:00Z", "ends_at": value,
    })
    assert r.status_code == 422, r.text


async def test_times_in_range_still_work(client: httpx.AsyncClient, services: Any) -> None:
    admin = await make_user(services, admin=True)
    event = await make_event(services, organiser=admin)
    await login(client, admin.email)
    r = await client.get(
        "/api/admin/audit",
        params={"since": "2026-01-01T00:00:00", "until": "2199-12-31T12:00:00-05:00"},
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/events/{event.id}/changes",
        json={
            "starts_at": event.starts_at.isoformat(),
            "ends_at": "2199-01-01T10:00:00+14:00",
            "note": "moved",
        },
    )
    assert r.status_code in (200, 201), r.text
    # Naive times are still refused where a time zone is required.
    r = await client.post(
        f"/api/events/{event.id}/changes", json={"starts_at": "2026-01-01T09:00:00"}
    )
    assert r.status_code == 422
