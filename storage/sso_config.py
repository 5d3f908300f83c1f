"""Single sign-on settings: OpenID Connect (``OIDC_*``) and whether passwords still sign in.

Read once by storage/settings.py like every other variable; a missing half (an issuer
without a client id) is one ``ConfigError`` line naming the variable. LTI platforms are
not settings: each school's Moodle or Canvas is registered in the database with
``classhub lti add-platform`` (docs/integration.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.errors import ConfigError
from storage.settings_parse import Env


@dataclass(frozen=True)
class OidcSettings:
    """One OpenID Connect provider: discovered from ``issuer``/.well-known/openid-configuration."""

    issuer: str
    client_id: str
    client_secret: str
    # Shown on the sign-in page: "Sign in with <provider_name>".
    provider_name: str = "single sign-on"
    scopes: str = "openid email profile"
    email_claim: str = "email"
    name_claim: str = "name"
    # Lower-case domains whose addresses may sign in; empty: any domain.
    allowed_domains: tuple[str, ...] = ()
    # First sign-in of an unknown (verified) address makes an account; off: refused.
    create_accounts: bool = False

    def domain_allowed(self, email: str) -> bool:
        domain = email.rpartition("@")[2].lower()
        return not self.allowed_domains or domain in self.allowed_domains


def parse_oidc(env: Env) -> OidcSettings | None:
    issuer = (env.raw("OIDC_ISSUER") or "").rstrip("/")
    client_id = env.raw("OIDC_CLIENT_ID") or ""
    client_secret = env.raw("OIDC_CLIENT_SECRET") or ""
    d = OidcSettings
    provider_name = env.text("OIDC_PROVIDER_NAME", d.provider_name).strip()
    scopes = env.text("OIDC_SCOPES", d.scopes)
    email_claim = env.text("OIDC_EMAIL_CLAIM", d.email_claim)
    name_claim = env.text("OIDC_NAME_CLAIM", d.name_claim)
    domains = tuple(x.lower().lstrip("@") for x in env.items("OIDC_ALLOWED_DOMAINS"))
    create = env.flag("OIDC_CREATE_ACCOUNTS", d.create_accounts)
    if not issuer:
        return None
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError("OIDC_ISSUER", f"must be the provider's http(s) URL, got {issuer!r}")
    if not client_id:
        raise ConfigError("OIDC_CLIENT_ID", "must be set when OIDC_ISSUER is")
    if "openid" not in scopes.split():
        raise ConfigError("OIDC_SCOPES", f"must include 'openid', got {scopes!r}")
    if not provider_name or len(provider_name) > 60:
        raise ConfigError("OIDC_PROVIDER_NAME", "must have 1 to 60 characters")
    return OidcSettings(
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        provider_name=provider_name,
        scopes=scopes,
        email_claim=email_claim,
        name_claim=name_claim,
        allowed_domains=domains,
        create_accounts=create,
    )


def parse_password_signin(env: Env, oidc: OidcSettings | None) -> bool:
    on = env.flag("PASSWORD_SIGNIN", True)
    if not on and oidc is None:
        # Nobody but admins could sign in on the web any more.
        raise ConfigError("PASSWORD_SIGNIN", "can be switched off only when OIDC_ISSUER is set")
    return on
