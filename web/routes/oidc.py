"""Signing in through an OpenID Connect provider (authorization code flow with PKCE).

``GET /auth/oidc/start`` sends the browser to the provider; ``GET /auth/oidc/callback``
takes it back, redeems the code, checks the ID token, finds the account by its VERIFIED
address (or makes it, when allowed) and starts the same session a password sign-in does.
Both are pages, not JSON operations: the browser arrives by redirects. The web client
asks ``GET /api/signin-options`` what to show on its sign-in page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from storage.errors import DomainError
from storage.repo.logs import log_activity
from storage.repo.sso import account_for_identity
from storage.sso_config import OidcSettings
from web import oidc_client
from web.api import API, Ctx
from web.services import Services, services_of
from web.sso_errors import SsoRefused
from web.sso_flow import read_flow_cookie, refusal_page, safe_next, set_flow_cookie, sign_in

FLOW_COOKIE = "classhub_oidc"
CALLBACK_PATH = "/auth/oidc/callback"


class ProviderOut(BaseModel):
    name: str
    start_url: str


class SignInOptionsOut(BaseModel):
    password: bool
    oidc: ProviderOut | None = None


@API.op(
    "GET",
    "/api/signin-options",
    summary="How people sign in here: with a password, through an OpenID Connect provider",
    auth="public",
    response=SignInOptionsOut,
    tags=("accounts",),
)
async def signin_options(ctx: Ctx) -> dict[str, Any]:
    """With ``password`` false the sign-in page shows only the provider's button; admins
    still sign in with their password at ``/signin?password`` (the break-glass)."""
    settings = ctx.services.settings
    oidc = settings.oidc
    return SignInOptionsOut(
        password=settings.password_signin,
        oidc=ProviderOut(name=oidc.provider_name, start_url="/auth/oidc/start") if oidc else None,
    ).model_dump()


def _config(services: Services) -> OidcSettings:
    if services.settings.oidc is None:
        raise SsoRefused("oidc_off", "sign-in through a provider is not set up here", 404)
    return services.settings.oidc


def _redirect_uri(services: Services) -> str:
    return services.settings.public_url + CALLBACK_PATH


async def start(request: Request) -> Response:
    services = services_of(request)
    try:
        config = _config(services)
        meta = await oidc_client.metadata(config)
    except SsoRefused as refused:
        return refusal_page(refused)
    secrets = oidc_client.FlowSecrets.new()
    target = oidc_client.authorization_url(config, meta, secrets, _redirect_uri(services))
    response = RedirectResponse(target, status_code=303)
    flow = {
        "state": secrets.state,
        "nonce": secrets.nonce,
        "verifier": secrets.verifier,
        "next": safe_next(request.query_params.get("next")),
    }
    set_flow_cookie(response, request, services, FLOW_COOKIE, flow, path="/auth/oidc")
    return response


async def callback(request: Request) -> Response:
    services = services_of(request)
    ip = request.client.host if request.client else ""
    try:
        return await _finish(request, services)
    except DomainError as refused:  # ours, the account's (storage/repo/sso.py), the address's
        async with services.db.session() as db:
            await log_activity(
                db, user_id=None, action="login_failed", target=f"via oidc: {refused.code}", ip=ip
            )
        response: Response = refusal_page(refused)
        response.delete_cookie(FLOW_COOKIE, path="/auth/oidc")
        return response


async def _finish(request: Request, services: Services) -> Response:
    config = _config(services)
    flow = read_flow_cookie(request, services, FLOW_COOKIE)
    params = request.query_params
    if params.get("state") != flow.get("state"):
        raise SsoRefused(
            "state_mismatch", "this answer is not for the sign-in this browser started"
        )
    if "error" in params:
        raise SsoRefused(
            "provider_refused",
            f"the provider did not sign you in ({params.get('error', '')[:100]})",
            403,
        )
    code = params.get("code")
    if not code or len(code) > 2048:
        raise SsoRefused("code_missing", "the provider's answer has no sign-in code")
    meta = await oidc_client.metadata(config)
    id_token = await oidc_client.redeem_code(
        config, meta, code, str(flow["verifier"]), _redirect_uri(services)
    )
    who = await oidc_client.identity(config, meta, id_token, str(flow["nonce"]))
    if not who.email:
        raise SsoRefused("no_email", "the provider did not tell us your email address", 403)
    if not who.email_verified:
        raise SsoRefused(
            "email_not_verified",
            f"the provider has not verified {who.email}; verify it there and sign in again",
            403,
        )
    if not config.domain_allowed(who.email):
        raise SsoRefused(
            "domain_not_allowed", f"addresses like {who.email} may not sign in here", 403
        )
    async with services.db.session() as db:
        user, created = await account_for_identity(
            db, email=who.email, name=who.name, create=config.create_accounts
        )
        if created:
            ip = request.client.host if request.client else ""
            await log_activity(db, user_id=user.id, action="account_created", target="via oidc",
                               ip=ip)
    response = await sign_in(request, services, user, via="oidc", target=str(flow["next"]))
    response.delete_cookie(FLOW_COOKIE, path="/auth/oidc")
    return response


def oidc_routes() -> list[BaseRoute]:
    return [
        Route("/auth/oidc/start", start, methods=["GET"], name="oidc_start"),
        Route(CALLBACK_PATH, callback, methods=["GET"], name="oidc_callback"),
    ]
