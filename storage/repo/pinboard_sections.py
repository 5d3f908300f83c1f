"""Board sections: create, rename and lock, reorder, delete (their notes move to unsorted)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError, Forbidden, NotFound
from storage.event_types import (
    SECTION_CREATED,
    SECTION_DELETED,
    SECTION_UPDATED,
    SECTIONS_REORDERED,
)
from storage.models import Board, BoardSection, Note, User
from storage.repo.logs import audit
from storage.repo.pinboard_access import (
    BoardAccess,
    BoardTx,
    board_access,
    check_section_admin_lock,
    require_moderator,
)
from storage.repo.pinboard_views import section_view


async def section_for(
    db: AsyncSession, user: User, section_id: int
) -> tuple[BoardSection, BoardAccess]:
    section = await db.get(BoardSection, section_id)
    if section is None:
        raise NotFound("section")
    board = await db.get(Board, section.board_id)
    if board is None:
        raise RuntimeError(f"section {section.id} without its board")
    return section, await board_access(db, user, board)


async def create_section(tx: BoardTx, acc: BoardAccess, title: str) -> BoardSection:
    require_moderator(acc)
    top = (
        await tx.db.execute(
            select(func.max(BoardSection.position)).where(BoardSection.board_id == acc.board.id)
        )
    ).scalar()
    section = BoardSection(
        board_id=acc.board.id, title=title.strip(), position=(top or 0) + 1, created_by=tx.actor.id
    )
    tx.db.add(section)
    await tx.db.flush()
    tx.emit(acc.board.channel, SECTION_CREATED, {"section": section_view(section)})
    return section


async def update_section(
    tx: BoardTx,
    acc: BoardAccess,
    section: BoardSection,
    *,
    title: str | None = None,
    locked: bool | None = None,
    admin_locked: bool | None = None,
) -> BoardSection:
    require_moderator(acc)
    if admin_locked is not None:
        if not acc.viewer.is_admin:
            raise Forbidden("only admins may set an admin lock")
        section.admin_locked = admin_locked
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.section.admin_lock",
            target=f"section:{section.id}", detail={"locked": admin_locked}, ip=tx.ip,
        )
    elif section.admin_locked:
        check_section_admin_lock(acc, section)
    if title is not None:
        section.title = title.strip()
    if locked is not None:
        section.locked = locked
    tx.emit(acc.board.channel, SECTION_UPDATED, {"section": section_view(section)})
    return section


async def reorder_sections(tx: BoardTx, acc: BoardAccess, order: list[int]) -> list[BoardSection]:
    require_moderator(acc)
    sections = list(
        (await tx.db.execute(select(BoardSection).where(BoardSection.board_id == acc.board.id)))
        .scalars()
    )
    if sorted(order) != sorted(s.id for s in sections) or len(set(order)) != len(order):
        raise DomainError("bad_order", "give every section of the board exactly once", status=422)
    by_id = {s.id: s for s in sections}
    for index, sid in enumerate(order, start=1):
        if by_id[sid].position != index:
            check_section_admin_lock(acc, by_id[sid])  # an admin-locked section stays put
            by_id[sid].position = index
    tx.emit(acc.board.channel, SECTIONS_REORDERED, {"order": order})
    return [by_id[i] for i in order]


async def delete_section(tx: BoardTx, acc: BoardAccess, section: BoardSection) -> None:
    """Its notes move to the unsorted column (section_id null); they are not deleted."""
    require_moderator(acc)
    check_section_admin_lock(acc, section)
    if section.created_by != tx.actor.id or acc.viewer.is_admin:
        await audit(
            tx.db, actor_id=tx.actor.id, action="pinboard.section.delete",
            target=f"section:{section.id}", detail={"title": section.title,
                                                   "created_by": section.created_by}, ip=tx.ip,
        )
    notes = (await tx.db.execute(select(Note).where(Note.section_id == section.id))).scalars()
    for note in notes:
        note.section_id = None
    await tx.db.delete(section)
    tx.emit(acc.board.channel, SECTION_DELETED, {"id": section.id})

