"""LTI 1.3 launches from a learning platform (Moodle, Canvas): into the event's room.

``/lti/login`` is the OIDC login initiation (GET or POST from the platform): it sends the
browser back to the platform's authorization endpoint with a state and nonce bound to it
by a signed cookie. The platform then posts the signed id_token to ``/lti/launch``, which
checks it (web/lti_launch.py), finds the event the course is linked to, finds or makes the
person's account, enrols them (Instructor: trainer, Learner: participant), signs them in
as a password sign-in would, and redirects to ``/events/<id>``. Platforms and links are
registered with ``classhub lti`` (web/commands/lti.py). Pages, not JSON operations.
"""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.common.security import generate_token
from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from storage.errors import DomainError
from storage.repo import lti as lti_repo
from storage.repo.logs import log_activity
from storage.repo.sso import account_for_identity
from web.lti_launch import validate_launch
from web.services import Services, services_of
from web.sso_errors import SsoRefused
from web.sso_flow import read_flow_cookie, refusal_page, set_flow_cookie, sign_in

FLOW_COOKIE = "classhub_lti"
LAUNCH_PATH = "/lti/launch"
MAX_FIELD = 8192  # an id_token with a handful of claims is a few kilobytes


def _field(source: QueryParams | FormData, name: str, *, required: bool = True) -> str | None:
    value = source.get(name)
    if value is None or value == "":
        if required:
            raise SsoRefused("bad_launch", f"the platform's request lacks {name}")
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise SsoRefused("bad_launch", f"the platform's {name} is not usable")
    return value


async def _params(request: Request) -> QueryParams | FormData:
    return await request.form() if request.method == "POST" else request.query_params


async def login(request: Request) -> Response:
    services = services_of(request)
    try:
        return await _login(request, services)
    except DomainError as refused:
        return refusal_page(refused)


async def _login(request: Request, services: Services) -> Response:
    params = await _params(request)
    issuer = _field(params, "iss")
    login_hint = _field(params, "login_hint")
    _field(params, "target_link_uri")
    client_id = _field(params, "client_id", required=False)
    async with services.db.session() as db:
        platform = await lti_repo.find_platform(db, str(issuer), client_id)
    if platform is None:
        raise SsoRefused("unknown_platform", f"{issuer} is not registered here", 403)
    state, nonce = generate_token(32), generate_token(32)
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": services.settings.public_url + LAUNCH_PATH,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if (hint := _field(params, "lti_message_hint", required=False)) is not None:
        query["lti_message_hint"] = hint
    sep = "&" if "?" in platform.auth_login_url else "?"
    response = RedirectResponse(f"{platform.auth_login_url}{sep}{urlencode(query)}", 303)
    flow = {"state": state, "nonce": nonce, "platform": platform.id}
    set_flow_cookie(
        response, request, services, FLOW_COOKIE, flow, path="/lti", cross_site_post=True
    )
    return response


async def launch(request: Request) -> Response:
    services = services_of(request)
    ip = request.client.host if request.client else ""
    try:
        return await _launch(request, services)
    except DomainError as refused:
        async with services.db.session() as db:
            await log_activity(
                db, user_id=None, action="login_failed", target=f"via lti: {refused.code}", ip=ip
            )
        return refusal_page(refused)


async def _launch(request: Request, services: Services) -> Response:
    form = await request.form()
    id_token, state = _field(form, "id_token"), _field(form, "state")
    flow = read_flow_cookie(request, services, FLOW_COOKIE)
    if state != flow.get("state"):
        raise SsoRefused("state_mismatch", "this launch is not for the login this browser started")
    async with services.db.session() as db:
        platforms = {p.id: p for p in await lti_repo.platforms(db)}
    platform = platforms.get(int(flow.get("platform", 0)))
    if platform is None:
        raise SsoRefused("unknown_platform", "the platform of this launch is no longer registered")
    found = await validate_launch(str(id_token), platform, str(flow["nonce"]))
    async with services.db.session() as db:
        # In the same transaction as the enrolment: a launch refused below leaves its
        # nonce unused, a launch that went through can never be posted again.
        if not await lti_repo.use_nonce(db, found.nonce):
            raise SsoRefused("nonce_used", "this launch was used already; open it again", 403)
        event_id = await lti_repo.linked_event(db, platform.id, found.context_id)
        if event_id is None:
            raise SsoRefused(
                "course_not_linked",
                f"the course {found.context_title or found.context_id!r} is not linked to a "
                f"classhub event yet; an admin links it with `classhub lti link --platform "
                f"{platform.id} --context {found.context_id} --event <id>`",
                404,
            )
        user, _ = await account_for_identity(
            db, email=found.email, name=found.name, create=platform.create_accounts
        )
        changed = await lti_repo.enrol_from_launch(db, user.id, event_id, found.role)
        await log_activity(
            db, user_id=user.id, action="lti_launch", target=f"event:{event_id}",
            ip=request.client.host if request.client else "",
        )
    if changed and services.hub is not None:
        await services.hub.membership_changed([user.id])
    response = await sign_in(request, services, user, via="lti", target=f"/events/{event_id}")
    response.delete_cookie(FLOW_COOKIE, path="/lti")
    return response


def lti_routes() -> list[BaseRoute]:
    return [
        Route("/lti/login", login, methods=["GET", "POST"], name="lti_login"),
        Route(LAUNCH_PATH, launch, methods=["POST"], name="lti_launch"),
    ]
