"""LTI 1.3 platforms (a school's Moodle or Canvas), their deployments, which course
(context) opens which event, and the launch nonces already used."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import AUTOINCREMENT, Base, BigId, UTCDateTime, utcnow


class LtiPlatform(Base):
    """One tool registration on a platform: its issuer and the client id it gave us."""

    __tablename__ = "lti_platforms"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Where the browser is sent with the authentication request (OIDC login initiation).
    auth_login_url: Mapped[str] = mapped_column(String(500))
    # The platform's public keys; id_tokens are checked against them.
    jwks_url: Mapped[str] = mapped_column(String(500))
    # A launch for an address without an account makes one (off: refused).
    create_accounts: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer", "client_id"), AUTOINCREMENT)


class LtiDeployment(Base):
    """A deployment id the platform may launch with; any other is refused."""

    __tablename__ = "lti_deployments"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class LtiContextLink(Base):
    """A course (context) of a platform that opens one event's room."""

    __tablename__ = "lti_context_links"

    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), primary_key=True
    )
    context_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LtiNonce(Base):
    """A launch's nonce once used: the same id_token posted again is refused."""

    __tablename__ = "lti_nonces"

    nonce: Mapped[str] = mapped_column(String(255), primary_key=True)
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
