"""The web -> hub seam is typed: strict mypy checks what web/ asks of the hub, the
services, the database session and each operation's parsed body and query."""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

import web.app  # noqa: F401 - registers every operation on API
from realtime.hub import Hub
from web.api import API, Ctx
from web.services import Services
from web.signins import SignIns

WEB = Path(__file__).resolve().parent.parent / "web"


def test_the_seam_is_not_any() -> None:
    assert typing.get_type_hints(Services)["hub"] == Hub | None
    assert typing.get_type_hints(SignIns.attach_hub)["hub"] is Hub
    assert typing.get_type_hints(Ctx.services.fget)["return"] is Services  # type: ignore[attr-defined]
    hints = typing.get_type_hints(Ctx)
    assert hints["body"] == hints["query"] == BaseModel | None
    untyped = [
        f"{path.relative_to(WEB.parent)}:{n}: {line.strip()}"
        for path in WEB.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(db|services|hub|settings|session): Any\b", line)
    ]
    assert not untyped, untyped


def test_each_handler_reads_the_body_and_query_it_declared() -> None:
    assert API.operations
    for op in API.operations:
        source = inspect.getsource(op.handler)
        for what, declared in (("body", op.body), ("query", op.query)):
            used = set(re.findall(rf"ctx\.{what}_as\((\w+)\)", source))
            assert used <= ({declared.__name__} if declared else set()), (op.method, op.path, what)
            assert not re.search(rf"ctx\.{what}\b(?!_as)", source), (op.method, op.path, what)


class _A(BaseModel):
    x: int = 0


class _B(BaseModel):
    y: int = 0


def test_body_as_refuses_another_model() -> None:
    ctx = Ctx(request=None, user=None, body=_A(), query=None)  # type: ignore[arg-type]
    assert ctx.body_as(_A).x == 0
    with pytest.raises(TypeError, match="_A, not _B"):
        ctx.body_as(_B)
    with pytest.raises(TypeError, match="NoneType, not _A"):
        ctx.query_as(_A)


def test_handlers_may_use_a_session_typed_db() -> None:
    from web.routes import groups

    assert typing.get_type_hints(groups.group_out)["db"] is AsyncSession
