"""Registering people: find or create the account, enrol it, issue an invitation link.

One path for the trainer's "register a participant", the organiser's
"enrol one person" and every row of a CSV upload, so the three cannot drift.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from storage.authz import ROLE_RANK, ProfileView, may_issue_link_for, profile_view_by_enrolment
from storage.errors import DomainError
from storage.models import Enrolment, Role, User, UserStatus
from storage.repo.account_mail import mail_link
from storage.repo.accounts import create_user, normalise_email, user_by_email
from storage.repo.events import enrol
from storage.repo.invitations import create_invitation

MAX_CSV_ROWS = 5000


@dataclass
class Registration:
    user: User
    created: bool  # a new account was made
    enrolled: bool  # an enrolment was made or its role changed
    invite_token: str | None  # a new set-your-password link for the caller (admins only)
    # False: the caller learns nothing about the account (not even whether it exists);
    # the person was mailed an offer to join, or nothing happened (see ``register``).
    disclosed: bool = True
    email: str = ""  # as the caller typed it (normalised)
    display_name: str = ""  # as the caller typed it


async def register(
    db: AsyncSession,
    *,
    actor: User,
    email: str,
    display_name: str,
    event_id: int | None,
    role: Role,
    ttl_secs: int,
    public_url: str,
    keep_higher_role: bool = False,
) -> Registration:
    """Make sure ``email`` has an account (and an enrolment in ``event_id`` as ``role``).

    Admins: the account is made or found and enrolled, and a person who has no
    password gets a fresh set-password link in the answer (``may_issue_link_for``).

    Anyone else (a trainer's invitation, an organiser's enrolment) learns nothing
    about an account they do not already see in full, i.e. one outside the events
    they teach or organise: whether the address is new, belongs to someone else's
    participant, an admin, or a blocked account, the answer is the same
    (``disclosed`` False) and nothing is enrolled. The person is mailed an offer to
    join (``storage/repo/account_mail.py``), with which a new account also sets its
    password. A person they do teach is enrolled at once; if that account has no
    password, the set-password link is mailed to its own address. No link is ever
    returned to a non-admin.

    With ``keep_higher_role`` an existing trainer or organiser is not demoted.
    """
    email = normalise_email(email)
    name = display_name.strip()
    if not actor.is_admin and not name:
        # Asked of every address alike, so the question does not tell which exist.
        raise DomainError("invalid_name", "display_name is required", status=422)
    user = await user_by_email(db, email)
    if actor.is_admin:
        return await _register_as_admin(
            db, actor, user, email, name, event_id, role, ttl_secs, keep_higher_role
        )
    if (
        user is not None
        and user.status == UserStatus.ACTIVE.value
        and await profile_view_by_enrolment(db, actor, user) is ProfileView.FULL
    ):
        enrolled = False
        if event_id is not None:
            current = await db.get(Enrolment, (user.id, event_id))
            enrolled = await enrol(
                db, user.id, event_id, _role_to_set(role, current, keep_higher_role)
            )
        if user.password_hash is None:
            await mail_link(db, user, actor=actor, public_url=public_url, ttl_secs=ttl_secs)
        return Registration(user, False, enrolled, None, True, email, name)
    created = user is None
    if user is None:
        user = await create_user(db, email=email, display_name=name)
    if user.status == UserStatus.ACTIVE.value and event_id is not None:
        await mail_link(
            db, user, actor=actor, public_url=public_url, ttl_secs=ttl_secs,
            event_id=event_id, role=role,
        )
    return Registration(user, created, False, None, False, email, name)


def _role_to_set(role: Role, current: Enrolment | None, keep_higher_role: bool) -> Role:
    if keep_higher_role and current is not None:
        return max(Role(current.role), role, key=ROLE_RANK.__getitem__)
    return role


async def _register_as_admin(
    db: AsyncSession,
    actor: User,
    user: User | None,
    email: str,
    name: str,
    event_id: int | None,
    role: Role,
    ttl_secs: int,
    keep_higher_role: bool,
) -> Registration:
    created = user is None
    if user is None:
        user = await create_user(db, email=email, display_name=name)
    elif user.status == UserStatus.DELETED.value:  # pragma: no cover - deleted rows have no email
        raise DomainError("account_deleted", "this account was deleted", status=409)
    link_allowed = user.password_hash is None and await may_issue_link_for(db, actor, user)
    enrolled = False
    if event_id is not None:
        current = await db.get(Enrolment, (user.id, event_id))
        enrolled = await enrol(db, user.id, event_id, _role_to_set(role, current, keep_higher_role))
    token = (
        await create_invitation(db, user, created_by=actor.id, ttl_secs=ttl_secs)
        if link_allowed
        else None
    )
    return Registration(user, created, enrolled, token, True, email, name)


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
    reader = csv.reader(io.StringIO(_csv_text(data), newline=""))
    col = _header_columns(reader)
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
        row = _csv_row(line, cells, col, seen)
        if isinstance(row, str):
            result.errors.append((line, row))
        else:
            seen[row.email] = line
            result.rows.append(row)
    return result


def _csv_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("invalid_csv", "the file is not UTF-8 text") from None
    if "\x00" in text:
        raise DomainError("invalid_csv", "the file contains NUL characters")
    return text


def _header_columns(reader: Iterator[list[str]]) -> dict[str, int]:
    """Column name -> index, from the required header line."""
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise DomainError("invalid_csv", "the file is empty") from None
    except csv.Error as exc:
        raise DomainError("invalid_csv", f"line 1: {exc}") from None
    if "email" not in header:
        raise DomainError("invalid_csv", "line 1 must be a header with an 'email' column")
    return {
        name: header.index(name) for name in ("email", "display_name", "role") if name in header
    }


def _csv_row(
    line: int, cells: list[str], col: dict[str, int], seen: dict[str, int]
) -> CsvRow | str:
    """One data line as a row, or the problem with it."""

    def cell(name: str) -> str:
        index = col.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    try:
        email = normalise_email(cell("email"))
    except DomainError as exc:
        return exc.message
    role_text = cell("role").lower() or Role.PARTICIPANT.value
    if role_text not in {r.value for r in Role}:
        return f"role must be participant, trainer or organiser, not {role_text!r}"
    name = cell("display_name")
    if len(name) > 120:
        return "display_name has more than 120 characters"
    if email in seen:
        return f"{email} appears already on line {seen[email]}"
    return CsvRow(line, email, name, Role(role_text))


@dataclass
class CsvOutcome:
    registrations: list[tuple[int, Registration]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


async def enrol_from_csv(
    db: AsyncSession, *, actor: User, event_id: int, data: bytes, ttl_secs: int, public_url: str
) -> CsvOutcome:
    """Enrol every good row of a CSV file; bad rows are reported by line and skipped.

    Every check that can fail is made before a row writes anything, so one bad
    row never undoes the good ones (no savepoints needed). For a non-admin no check
    depends on whether an address has an account (``register``): every row needs a
    display_name, and a blocked account's row looks like any other.
    """
    parsed = parse_enrolment_csv(data)
    outcome = CsvOutcome(errors=list(parsed.errors))
    for row in parsed.rows:
        if not actor.is_admin:
            if not row.display_name:
                outcome.errors.append((row.line, "display_name is required"))
                continue
        else:
            existing = await user_by_email(db, row.email)
            if existing is None and not row.display_name:
                outcome.errors.append((row.line, "display_name is required for a new account"))
                continue
            if existing is not None and existing.status != UserStatus.ACTIVE.value:
                outcome.errors.append(
                    (row.line, f"the account of {row.email} is {existing.status}")
                )
                continue
        reg = await register(
            db,
            actor=actor,
            email=row.email,
            display_name=row.display_name,
            event_id=event_id,
            role=row.role,
            ttl_secs=ttl_secs,
            public_url=public_url,
        )
        outcome.registrations.append((row.line, reg))
    outcome.errors.sort()
    return outcome
