"""Registering people: find or create the account, enrol it, issue an invitation link.

One path for the trainer's "register a participant", the organiser's
"enrol one person" and every row of a CSV upload, so the three cannot drift.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import ROLE_RANK, may_issue_link_for
from storage.errors import DomainError
from storage.models import Enrolment, Role, User, UserStatus
from storage.repo.accounts import create_user, normalise_email, user_by_email
from storage.repo.events import enrol
from storage.repo.invitations import create_invitation

MAX_CSV_ROWS = 5000


@dataclass
class Registration:
    user: User
    created: bool  # a new account was made
    enrolled: bool  # an enrolment was made or its role changed
    invite_token: str | None  # a new set-your-password link, when one was issued


async def register(
    db: AsyncSession,
    *,
    actor: User,
    email: str,
    display_name: str,
    event_id: int | None,
    role: Role,
    ttl_secs: int,
    keep_higher_role: bool = False,
) -> Registration:
    """Make sure ``email`` has an account (and an enrolment in ``event_id`` as ``role``).

    A person who never set a password gets a fresh invitation link, provided
    the actor may hold such a link for them (``authz.may_issue_link_for``).
    With ``keep_higher_role`` an existing trainer or organiser is not demoted.
    """
    user = await user_by_email(db, normalise_email(email))
    created = user is None
    if user is None:
        user = await create_user(db, email=email, display_name=display_name)
    elif user.status == UserStatus.DELETED.value:  # pragma: no cover - deleted rows have no email
        raise DomainError("account_deleted", "this account was deleted", status=409)
    link_allowed = user.password_hash is None and (
        created or await may_issue_link_for(db, actor, user)
    )
    enrolled = False
    if event_id is not None:
        current = await db.get(Enrolment, (user.id, event_id))
        if keep_higher_role and current is not None:
            role = max(Role(current.role), role, key=ROLE_RANK.__getitem__)
        enrolled = await enrol(db, user.id, event_id, role)
    token = (
        await create_invitation(db, user, created_by=actor.id, ttl_secs=ttl_secs)
        if link_allowed
        else None
    )
    return Registration(user, created, enrolled, token)


@dataclass
class CsvRow:
    line: int
    email: str
    display_name: str
    role: Role


@dataclass
class CsvParse:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)


def parse_enrolment_csv(data: bytes) -> CsvParse:
    """Read ``email,display_name,role`` rows; bad rows are reported by line, never fatal.

    The header line is required (columns in any order; ``role`` may be left
    out and defaults to participant). Raises DomainError when the file as a
    whole is unusable (not UTF-8, no email column).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("invalid_csv", "the file is not UTF-8 text") from None
    if "\x00" in text:
        raise DomainError("invalid_csv", "the file contains NUL characters")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DomainError("invalid_csv", "the file is empty") from None
    except csv.Error as exc:
        raise DomainError("invalid_csv", f"line 1: {exc}") from None
    if "email" not in header:
        raise DomainError("invalid_csv", "line 1 must be a header with an 'email' column")
    col: dict[str, int] = {
        name: header.index(name) for name in ("email", "display_name", "role") if name in header
    }
    result = CsvParse()
    seen: dict[str, int] = {}
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.errors.append((line, str(exc)))
            break  # the reader cannot find its way back after a broken quote
        if not any(c.strip() for c in cells):
            continue
        if len(result.rows) + len(result.errors) >= MAX_CSV_ROWS:
            result.errors.append((line, f"more than {MAX_CSV_ROWS} rows; the rest was ignored"))
            break

        def cell(name: str, cells: list[str] = cells) -> str:
            index = col.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        try:
            email = normalise_email(cell("email"))
        except DomainError as exc:
            result.errors.append((line, exc.message))
            continue
        role_text = cell("role").lower() or Role.PARTICIPANT.value
        if role_text not in {r.value for r in Role}:
            result.errors.append(
                (line, f"role must be participant, trainer or organiser, not {role_text!r}")
            )
            continue
        name = cell("display_name")
        if len(name) > 120:
            result.errors.append((line, "display_name has more than 120 characters"))
            continue
        if email in seen:
            result.errors.append((line, f"{email} appears already on line {seen[email]}"))
            continue
        seen[email] = line
        result.rows.append(CsvRow(line, email, name, Role(role_text)))
    return result


@dataclass
class CsvOutcome:
    registrations: list[tuple[int, Registration]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


async def enrol_from_csv(
    db: AsyncSession, *, actor: User, event_id: int, data: bytes, ttl_secs: int
) -> CsvOutcome:
    """Enrol every good row of a CSV file; bad rows are reported by line and skipped.

    Every check that can fail is made before a row writes anything, so one bad
    row never undoes the good ones (no savepoints needed).
    """
    parsed = parse_enrolment_csv(data)
    outcome = CsvOutcome(errors=list(parsed.errors))
    for row in parsed.rows:
        existing = await user_by_email(db, row.email)
        if existing is None and not row.display_name:
            outcome.errors.append((row.line, "display_name is required for a new account"))
            continue
        if existing is not None and existing.status != UserStatus.ACTIVE.value:
            outcome.errors.append((row.line, f"the account of {row.email} is {existing.status}"))
            continue
        reg = await register(
            db,
            actor=actor,
            email=row.email,
            display_name=row.display_name,
            event_id=event_id,
            role=row.role,
            ttl_secs=ttl_secs,
        )
        outcome.registrations.append((row.line, reg))
    outcome.errors.sort()
    return outcome
