"""Builds the OpenAPI 3.1 description from the declared operations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from web.api import PATH_PARAM, Operation

REF_TEMPLATE = "#/components/schemas/{model}"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def _schema(
    model: type[BaseModel], components: dict[str, Any], *, request: bool = False
) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    if request:
        schema["additionalProperties"] = False  # web.api.parse_json_body refuses unknown fields
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation_slug(path: str) -> str:
    """``/api/events/{event_id}/board`` -> ``api_events_event_id_board``."""
    return path.strip("/").replace("/", "_").replace("{", "").replace("}", "")


def _security(op: Operation) -> dict[str, Any]:
    if op.auth == "key":
        return {
            "security": [{"apiKey": []}],
            "description": f"Needs an API key with the scope `{op.scope}`.",
        }
    return {} if op.auth == "public" else {"security": [{"session": []}]}


def build_openapi(operations: list[Operation]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for op in operations:
        path = PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", op.path)
        params: list[dict[str, Any]] = [
            {
                "name": m.group(1),
                "in": "path",
                "required": True,
                "schema": {"type": "integer"} if m.group(2) == "int" else {"type": "string"},
            }
            for m in PATH_PARAM.finditer(op.path)
        ]
        if op.query is not None:
            # Enums and nested models of a query land in components like a body's do:
            # left under the parameter's own "$defs" their "$ref"s would point nowhere.
            qschema = op.query.model_json_schema(ref_template=REF_TEMPLATE)
            for name, sub in qschema.pop("$defs", {}).items():
                components[name] = sub
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        error = {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        ok: dict[str, Any] = {"description": "success"}
        produces = (op.produces,) if isinstance(op.produces, str) else op.produces
        if op.response is not None:
            ok["content"] = {
                media: {"schema": _schema(op.response, components)} for media in produces
            }
        elif produces != ("application/json",):
            ok["content"] = {media: {} for media in produces}
        responses: dict[str, Any] = {str(op.status): ok, "4XX": error}
        for status, text in op.extra_responses.items():
            # A second success status (e.g. 200 for a replayed create) has the success body.
            responses[str(status)] = {**(ok if status < 300 else error), "description": text}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{_operation_slug(path)}",
            "parameters": params,
            "responses": responses,
        }
        if op.tags:
            entry["tags"] = list(op.tags)
        entry.update(_security(op))
        if op.body is not None:
            body: dict[str, Any] = {"schema": _schema(op.body, components, request=True)}
            if op.examples is not None:
                body["example"] = op.examples
            entry["requestBody"] = {"required": True, "content": {"application/json": body}}
        elif op.content_type is not None:
            media: dict[str, Any] = {"schema": op.form_schema} if op.form_schema else {}
            entry["requestBody"] = {"required": True, "content": {op.content_type: media}}
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "classhub", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "classhub_session"},
                # The server API (docs/integration.md): `classhub apikey create`.
                "apiKey": {"type": "http", "scheme": "bearer"},
            },
        },
    }
