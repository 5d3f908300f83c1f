"""An LTI 1.3 resource link launch, checked (1EdTech Security Framework 1.0 §5.1.3, LTI
Core 1.3 §5.3): the id_token's signature against the platform's JWKS, iss, aud (and azp),
exp and iat, the nonce of this browser's login, the deployment, the message type and
version; then what it says: who (email, name), from which course, in which role."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from storage.models import Role
from storage.repo.lti import NONCE_KEEP_SECS, PlatformInfo
from web.jwks import check_claims, verified_claims
from web.sso_errors import SsoRefused

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# Course roles that teach; anything else that is a Learner takes part. Instructor
# sub-roles (TeachingAssistant, ...) are "<MEMBERSHIP>/Instructor#<name>".
TRAINER_ROLES = (f"{MEMBERSHIP}#Instructor", f"{MEMBERSHIP}/Instructor#")
PARTICIPANT_ROLES = (f"{MEMBERSHIP}#Learner", f"{MEMBERSHIP}/Learner#")


@dataclass(frozen=True)
class Launch:
    subject: str
    email: str
    name: str
    context_id: str
    context_title: str
    role: Role
    nonce: str


def role_of(roles: Any) -> Role:
    if not isinstance(roles, list):
        raise SsoRefused("bad_launch", "the launch names no roles")
    texts = [r for r in roles if isinstance(r, str)]
    if any(r.startswith(TRAINER_ROLES) for r in texts):
        return Role.TRAINER
    if any(r.startswith(PARTICIPANT_ROLES) for r in texts):
        return Role.PARTICIPANT
    raise SsoRefused(
        "no_lti_role", "your role in this course is neither Instructor nor Learner", 403
    )


def _text(claims: dict[str, Any], name: str, what: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise SsoRefused("bad_launch", f"the launch has no usable {what}")
    return value


async def validate_launch(id_token: str, platform: PlatformInfo, nonce: str) -> Launch:
    claims = await verified_claims(id_token, platform.jwks_url)
    check_claims(claims, iss=platform.issuer, aud=platform.client_id, nonce=nonce)
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != platform.client_id:
        raise SsoRefused("bad_token", "the launch was issued to another tool (azp)")
    if time.time() - float(claims["iat"]) > NONCE_KEEP_SECS:
        # Older than the nonces we remember: could be a replay we can no longer tell.
        raise SsoRefused("bad_token", "the launch is too old")
    deployment = _text(claims, CLAIM + "deployment_id", "deployment id")
    if deployment not in platform.deployments:
        raise SsoRefused(
            "unknown_deployment",
            f"deployment {deployment!r} of {platform.name} is not registered here "
            "(classhub lti add-deployment)",
            403,
        )
    if claims.get(CLAIM + "message_type") != "LtiResourceLinkRequest":
        raise SsoRefused("bad_launch", "only resource link launches open a room")
    if claims.get(CLAIM + "version") != "1.3.0":
        raise SsoRefused("bad_launch", "only LTI 1.3.0 launches are understood")
    link = claims.get(CLAIM + "resource_link")
    if not isinstance(link, dict) or not isinstance(link.get("id"), str):
        raise SsoRefused("bad_launch", "the launch has no resource link")
    context = claims.get(CLAIM + "context")
    if not isinstance(context, dict):
        raise SsoRefused("bad_launch", "the launch comes from no course (context)")
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise SsoRefused(
            "no_email",
            f"{platform.name} did not share your email address; its administrator must let "
            "this tool see it (docs/integration.md)",
            403,
        )
    name = claims.get("name")
    return Launch(
        subject=_text(claims, "sub", "subject"),
        email=email,
        name=name if isinstance(name, str) else "",
        context_id=_text(context, "id", "course id"),
        context_title=str(context.get("title", ""))[:200],
        role=role_of(claims.get(CLAIM + "roles")),
        nonce=nonce,
    )
