"""The account a verified identity from a provider (OpenID Connect, an LTI platform) signs
in to: matched by address, made on first sign-in when allowed, refused clearly when not."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import DomainError
from storage.models import User, UserStatus
from storage.repo.accounts import create_user, normalise_email, user_by_email


class SignInRefused(DomainError):
    """The provider vouched for someone classhub does not let in; ``code`` says why."""

    status = 403


async def account_for_identity(
    db: AsyncSession, *, email: str, name: str, create: bool
) -> tuple[User, bool]:
    """The active account of ``email`` (already verified by the caller) and whether it was
    made now. Blocked, terminating and deleted accounts are refused: a provider's word
    does not undo an admin's block, nor reopen an account on its way to deletion."""
    address = normalise_email(email)
    user = await user_by_email(db, address)
    created = False
    if user is None:
        if not create:
            raise SignInRefused(
                "no_account",
                f"there is no classhub account for {address}; ask an admin to create one",
            )
        display = " ".join(name.split())[:120] or address.partition("@")[0][:120]
        # No password: this person signs in through the provider (or asks for a reset link).
        user = await create_user(db, email=address, display_name=display)
        created = True
    if user.status != UserStatus.ACTIVE.value:
        raise SignInRefused(f"account_{user.status}", f"this account is {user.status}")
    return user, created
