"""Signed tokens from an identity provider or LTI platform, checked against its published
keys (JWKS, RFC 7517) with joserfc: fetched once, cached, fetched again on an unknown key
id (the provider rotated its keys), never more than once per token."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from web.sso_errors import SsoRefused

# Published keys are kept this long: a rotation shows up at once anyway (unknown kid).
JWKS_CACHE_SECS = 3600.0
# A token signed with a key we do not know refetches the keys, but not more often than
# this: forged tokens must not turn us into a flood of requests to the provider.
JWKS_MIN_REFRESH_SECS = 30.0
# A provider that does not answer within this is down for this sign-in.
FETCH_TIMEOUT_SECS = 10.0
# RS256 is what OpenID Connect and LTI 1.3 require; "none" and HMAC with a public key
# (the classic confusion attack) are never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


@dataclass
class _Cached:
    keys: KeySet
    fetched_at: float


_cache: dict[str, _Cached] = {}


async def fetch_json(url: str) -> dict[str, Any]:
    """A provider's JSON document; unreachable or not JSON is a 502 for this sign-in."""
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECS) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoRefused(
            "provider_unavailable", f"{url} did not answer usably ({exc})", 502
        ) from None
    if not isinstance(data, dict):
        raise SsoRefused("provider_unavailable", f"{url} did not answer with a JSON object", 502)
    return data


async def _key_set(url: str, *, refresh: bool) -> KeySet:
    cached = _cache.get(url)
    age = time.monotonic() - cached.fetched_at if cached is not None else None
    if age is None or age > JWKS_CACHE_SECS or (refresh and age > JWKS_MIN_REFRESH_SECS):
        try:
            keys = KeySet.import_key_set(await fetch_json(url))  # type: ignore[arg-type]
        except JoseError as exc:
            raise SsoRefused("provider_unavailable", f"{url}: unusable keys ({exc})", 502) from None
        cached = _Cached(keys, time.monotonic())
        _cache[url] = cached
    return cached.keys  # type: ignore[union-attr]  # set above when it was None


async def verified_claims(token: str, jwks_url: str) -> dict[str, Any]:
    """The claims of ``token`` once its signature checks against ``jwks_url``'s keys.

    Only the signature: the caller checks iss, aud, exp, nonce and the rest."""
    for refresh in (False, True):
        keys = await _key_set(jwks_url, refresh=refresh)
        try:
            return dict(jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims)
        except (ValueError, JoseError) as exc:
            if refresh or not _unknown_key(exc):
                raise SsoRefused("bad_token", f"the signed token is not valid ({exc})") from None
    raise RuntimeError("unreachable")


def _unknown_key(exc: Exception) -> bool:
    return type(exc).__name__ in {"InvalidKeyIdError", "MissingKeyError", "BadSignatureError"}


def check_claims(claims: dict[str, Any], *, leeway: int = 60, **expected: Any) -> None:
    """iss, aud, nonce (given as values) and exp, iat, sub present and current."""
    options: dict[str, Any] = {name: {"essential": True, "value": value}
                               for name, value in expected.items()}
    options.setdefault("sub", {"essential": True})
    options["exp"] = {"essential": True}
    options["iat"] = {"essential": True}
    try:
        jwt.JWTClaimsRegistry(leeway=leeway, **options).validate(claims)
    except JoseError as exc:
        raise SsoRefused("bad_token", f"the signed token is not for this sign-in ({exc})") from None
