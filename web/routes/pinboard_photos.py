"""Pinboard photos (upload, decrypted download, thumbnails) and board exports.

Uploads are multipart/form-data with one part named ``file``. The bytes are
checked and re-encoded by ``storage.photos`` (in the bounded pool of
web/photo_decoding.py: decoding takes CPU and up to ~16 bytes a pixel), sealed with
AES-256-GCM by ``storage.attachments``, and attached to the note as an edit of it.
Downloads decrypt only for people who may see the note that carries the photo (or its
earlier versions).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import zipfile
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from storage import authz_board
from storage.crypto import DecryptionFailed, UnknownKey
from storage.errors import DomainError, Forbidden, NotFound
from storage.models import Attachment, Board, BoardSection, Note, NoteRevision, utcnow
from storage.photos import CleanPhoto, check_photo, clean_photo
from storage.repo import pinboard as repo
from storage.repo.logs import log_activity
from storage.repo.pinboard import BoardTx
from storage.repo.pinboard_read import export_notes, notes_as_seen
from storage.repo.pinboard_views import board_view, section_view
from web.api import API, Ctx
from web.body_limits import limited
from web.errors import ApiError
from web.photo_decoding import decode_pool
from web.pinboard_attachments import attachment_store
from web.routes.pinboard import TAGS, board_tx

log = logging.getLogger("classhub.pinboard")
MULTIPART_OVERHEAD = 64 * 1024
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


async def _read_upload(ctx: Ctx) -> bytes:
    limit = ctx.services.settings.photo_max_bytes
    # Refused while it streams in: a chunked upload declares no length, and the form
    # parser would otherwise spool a file part of any size to disk.
    request = limited(ctx.request, limit, "the photo", overhead=MULTIPART_OVERHEAD)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the photo as multipart/form-data")
    async with request.form(max_files=1, max_fields=4) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise ApiError(422, "invalid", "file: send the photo in a part named 'file'")
        raw = await part.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"the photo is over {limit} bytes")
    return raw


@API.op("POST", "/api/pinboard/notes/{note_id:int}/photo", tags=TAGS,
        content_type="multipart/form-data",
        errors={413: "the photo is too large", 415: "not a PNG, JPEG or WebP image",
                422: "too many pixels, damaged or empty",
                429: "enough of one's photos are being processed already"},
        summary="Attach a photo to one's own note (PNG, JPEG or WebP; metadata stripped)")
async def upload_photo(ctx: Ctx) -> dict[str, Any]:
    settings = ctx.services.settings
    raw = await _read_upload(ctx)
    # The header first (cheap, any thread): a bomb is refused before it takes a decoder.
    await asyncio.to_thread(check_photo, raw, max_pixels=settings.photo_max_pixels)
    photo: CleanPhoto = await decode_pool(ctx.services).run(
        ctx.me.id, clean_photo, raw,
        max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
    )
    store = attachment_store(ctx.services)
    written: list[int] = []
    outer: BoardTx | None = None
    try:
        async with board_tx(ctx) as tx:
            outer = tx
            note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
            if not authz_board.may_change_note(
                acc.viewer, note.author_id, note.state, note.admin_locked
            ):
                raise Forbidden("only the author may change a note's photo")
            att = Attachment(
                board_id=note.board_id, owner_id=ctx.me.id, content_type=photo.content_type,
                width=photo.width, height=photo.height, size=len(photo.data),
                key_id="", nonce=b"", thumb_nonce=b"", thumb_content_type=photo.thumb_content_type,
            )
            tx.db.add(att)
            await tx.db.flush()
            sealed = await asyncio.to_thread(store.seal, att.id, "photo", photo.data)
            thumb = await asyncio.to_thread(store.seal, att.id, "thumb", photo.thumb)
            att.key_id, att.nonce, att.thumb_nonce = sealed.key_id, sealed.nonce, thumb.nonce
            written.append(att.id)
            await asyncio.to_thread(store.write, att.id, "photo", sealed)
            await asyncio.to_thread(store.write, att.id, "thumb", thumb)
            await repo.edit_note(
                tx, acc, note, text=None, colour=None, photo_id=att.id, set_photo=True
            )
            await tx.db.flush()
            result = (await notes_as_seen(tx.db, acc, [note]))[0]
    except BaseException:
        if outer is None or not outer.committed:
            for att_id in written:  # the row was rolled back: its files must not linger
                store.remove(att_id)
        raise
    return result


@API.op("DELETE", "/api/pinboard/notes/{note_id:int}/photo", tags=TAGS,
        summary="Remove the photo from one's own note (earlier versions keep theirs)")
async def remove_photo(ctx: Ctx) -> dict[str, Any]:
    async with board_tx(ctx) as tx:
        note, acc = await repo.note_for(tx.db, ctx.me, ctx.path_int("note_id"), lock=True)
        await repo.edit_note(tx, acc, note, text=None, colour=None, photo_id=None, set_photo=True)
        await tx.db.flush()
        return (await notes_as_seen(tx.db, acc, [note]))[0]


async def _may_view_attachment(db: AsyncSession, ctx: Ctx, att: Attachment) -> bool:
    board = await db.get(Board, att.board_id)
    if board is None:
        raise RuntimeError(f"attachment {att.id} without its board")
    viewer = await authz_board.board_viewer(db, ctx.me, board.event_id, board.group_id)
    if not authz_board.may_read_board(viewer):
        raise NotFound("photo")  # an outsider learns nothing
    if att.owner_id == ctx.me.id:
        return True
    notes = (await db.execute(select(Note).where(Note.photo_id == att.id))).scalars().all()
    if any(authz_board.may_see_note(viewer, n.state, n.author_id) for n in notes):
        return True
    if authz_board.may_see_note_history(viewer):
        rev = (await db.execute(
            select(NoteRevision.note_id).where(NoteRevision.photo_id == att.id).limit(1)
        )).first()
        return rev is not None
    return False


async def _serve(ctx: Ctx, variant: str) -> Response:
    async with ctx.services.db.session() as db:
        att = await db.get(Attachment, ctx.path_int("photo_id"))
        if att is None:
            raise NotFound("photo")
        if not await _may_view_attachment(db, ctx, att):
            raise Forbidden("you may not see this photo")
    store = attachment_store(ctx.services)
    try:
        data = await asyncio.to_thread(store.read, att, variant)
    except FileNotFoundError:
        raise NotFound("photo file") from None
    except (DecryptionFailed, UnknownKey) as exc:
        log.error("attachment %s (%s) refused: %s", att.id, variant, exc)
        raise DomainError(
            "attachment_integrity", "the stored photo failed its integrity check", status=500
        ) from None
    ctype = att.content_type if variant == "photo" else att.thumb_content_type
    return Response(
        data,
        media_type=ctype,
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )


@API.op("GET", "/api/pinboard/photos/{photo_id:int}", tags=TAGS, produces="image/*",
        summary="A photo, decrypted, for people who may see its note")
async def get_photo(ctx: Ctx) -> Response:
    return await _serve(ctx, "photo")


@API.op("GET", "/api/pinboard/photos/{photo_id:int}/thumb", tags=TAGS, produces="image/*",
        summary="A photo's thumbnail (at most 320 px), for people who may see its note")
async def get_thumb(ctx: Ctx) -> Response:
    return await _serve(ctx, "thumb")


# --- export ----------------------------------------------------------------------------


async def _export_data(ctx: Ctx) -> tuple[dict[str, Any], list[dict[str, Any]], repo.BoardAccess]:
    async with ctx.services.db.session() as db:
        acc = await repo.board_by_id(db, ctx.me, ctx.path_int("board_id"))
        if not authz_board.may_export_board(acc.viewer):
            raise Forbidden("only the event's trainers, organisers and admins may export")
        sections = (await db.execute(
            select(BoardSection).where(BoardSection.board_id == acc.board.id)
            .order_by(BoardSection.position)
        )).scalars()
        data: dict[str, Any] = {
            "board": board_view(acc.board),
            "exported_at": utcnow().isoformat(),
            "sections": [section_view(s) for s in sections],
            "notes": await export_notes(db, acc),
        }
        await log_activity(db, user_id=ctx.me.id, action="pinboard.export",
                           target=f"board:{acc.board.id}", ip=ctx.ip)
    return data, data["notes"], acc


def _download(body: bytes, media_type: str, name: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@API.op("GET", "/api/pinboard/boards/{board_id:int}/export.json", tags=TAGS,
        summary="Export the board as JSON (trainers, organisers, admins); drafts excluded")
async def export_json(ctx: Ctx) -> Response:
    data, _, acc = await _export_data(ctx)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return _download(body, "application/json", f"board-{acc.board.id}.json")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


CSV_FIELDS = ["kind", "id", "note_id", "parent_id", "section", "author", "state", "text",
              "colour", "votes", "pinned", "photo", "created_at"]


@API.op("GET", "/api/pinboard/boards/{board_id:int}/export.csv", tags=TAGS, produces="text/csv",
        summary="Export the board as CSV, one row per note and per reply")
async def export_csv(ctx: Ctx) -> Response:
    data, notes, acc = await _export_data(ctx)
    titles = {s["id"]: s["title"] for s in data["sections"]}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for n in notes:
        writer.writerow({
            "kind": "note", "id": n["id"], "note_id": n["id"], "parent_id": "",
            "section": _cell(titles.get(n["section_id"], "")),
            "author": _cell((n["author"] or {}).get("name", "")), "state": n["state"],
            "text": _cell(n["text"]), "colour": n["colour"], "votes": n["votes"],
            "pinned": n["pinned"], "photo": (n["photo"] or {}).get("id", ""),
            "created_at": n["released_at"] or n["created_at"],
        })
        for r in n["replies"]:
            writer.writerow(
                {
                    "kind": "reply",
                    "id": r["id"],
                    "note_id": n["id"],
                    "parent_id": r["parent_id"] or "",
                    "section": _cell(titles.get(n["section_id"], "")),
                    "author": _cell((r["author"] or {}).get("name", "")),
                    "state": "deleted" if r["deleted"] else "published",
                    "text": _cell(r["text"]),
                    "colour": "",
                    "votes": "",
                    "pinned": "",
                    "photo": "",
                    "created_at": r["created_at"],
                }
            )
    return _download(
        out.getvalue().encode(), "text/csv; charset=utf-8", f"board-{acc.board.id}.csv"
    )


@API.op("GET", "/api/pinboard/boards/{board_id:int}/photos.zip", tags=TAGS,
        produces="application/zip", summary="The board's photos, decrypted, as a zip")
async def export_photos(ctx: Ctx) -> Response:
    _, notes, acc = await _export_data(ctx)
    store = attachment_store(ctx.services)
    async with ctx.services.db.session() as db:
        ids = [n["photo"]["id"] for n in notes if n["photo"]]
        atts = (
            list((await db.execute(select(Attachment).where(Attachment.id.in_(ids)))).scalars())
            if ids
            else []
        )
    by_id = {a.id: a for a in atts}

    def build() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # images are compressed
            for n in notes:
                if not n["photo"]:
                    continue
                att = by_id[n["photo"]["id"]]
                try:
                    data = store.read(att, "photo")
                except (FileNotFoundError, DecryptionFailed, UnknownKey) as exc:
                    log.error("export: attachment %s skipped: %s", att.id, exc)
                    continue
                zf.writestr(f"note-{n['id']}-photo-{att.id}.{EXTENSIONS[att.content_type]}", data)
        return buf.getvalue()

    body = await asyncio.to_thread(build)
    return _download(body, "application/zip", f"board-{acc.board.id}-photos.zip")
