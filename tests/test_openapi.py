"""The OpenAPI document is self-contained and declares what the API answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import login, make_user


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_every_ref_resolves(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    refs = set(_refs(doc))
    assert "#/components/schemas/UserStatus" in refs  # a query parameter's enum
    unresolved = []
    for ref in sorted(refs):
        try:
            _resolve(doc, ref)
        except (KeyError, AssertionError):
            unresolved.append(ref)
    assert not unresolved


async def test_exports_answer_a_declared_media_type(
    client: httpx.AsyncClient, services: Any
) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    admin = await make_user(services, admin=True)
    await login(client, admin.email)
    cases = [
        ("/api/admin/audit/export", {"format": "csv"}),
        ("/api/admin/audit/export", {"format": "jsonl"}),
        ("/api/admin/messages/export", {"format": "csv", "q": "hello", "reason": "a test"}),
    ]
    for path, params in cases:
        r = await client.get(path, params=params)
        assert r.status_code == 200, (path, params, r.text)
        media = r.headers["content-type"].split(";")[0].strip()
        declared = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert media in declared, (path, params, media, list(declared))
