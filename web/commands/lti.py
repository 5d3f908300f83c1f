"""``classhub lti``: register LTI 1.3 platforms (Moodle, Canvas) and link their courses to
events. See docs/integration.md for the values each platform shows."""

from __future__ import annotations

import argparse
import asyncio
import sys

from storage.db import Database
from storage.errors import DomainError
from storage.models import LtiDeployment, LtiPlatform
from storage.repo import lti as lti_repo
from storage.repo.logs import audit
from storage.settings import Settings
from web.subcommands import ensure_migrated, subcommand

DESCRIPTION = (
    "LTI 1.3 launches into event rooms. `add-platform` registers a platform (its issuer, the "
    "client id it gave classhub, its OIDC authorization URL and JWKS URL, one or more "
    "deployment ids); `add-deployment` adds a deployment id; `link` makes launches from a "
    "course (context id) open an event; `list` shows the registrations. Give the platform "
    "PUBLIC_URL/lti/login as the login initiation URL and PUBLIC_URL/lti/launch as the "
    "redirect (launch) URL."
)


async def _act(args: argparse.Namespace, settings: Settings) -> str:
    database = Database(settings.database_url, pool_size=1)
    try:
        async with database.session() as db:
            if args.lti_command == "list":
                lines = []
                for p in await lti_repo.platforms(db):
                    lines.append(
                        f"{p.id}: {p.name}  issuer={p.issuer}  client_id={p.client_id}  "
                        f"deployments={','.join(p.deployments) or '-'}  "
                        f"create_accounts={'on' if p.create_accounts else 'off'}"
                    )
                return "\n".join(lines) or "no LTI platforms registered"
            if args.lti_command == "add-platform":
                platform = await lti_repo.add_platform(
                    db, name=args.name, issuer=args.issuer, client_id=args.client_id,
                    auth_login_url=args.auth_url, jwks_url=args.jwks_url,
                    deployments=args.deployment or [], create_accounts=not args.no_create,
                )
                await audit(db, actor_id=None, action="lti.add_platform",
                            target=f"lti_platform:{platform.id}",
                            detail={"by": "cli", "issuer": args.issuer})
                return f"registered platform {platform.id} ({platform.name})"
            if args.lti_command == "add-deployment":
                if await db.get(LtiPlatform, args.platform) is None:
                    raise DomainError("not_found", f"no LTI platform {args.platform}")
                if await db.get(LtiDeployment, (args.platform, args.deployment)) is None:
                    db.add(LtiDeployment(platform_id=args.platform, deployment_id=args.deployment))
                return f"platform {args.platform} accepts deployment {args.deployment}"
            await lti_repo.link_context(db, args.platform, args.context, args.event)
            await audit(db, actor_id=None, action="lti.link", target=f"event:{args.event}",
                        detail={"by": "cli", "platform": args.platform, "context": args.context})
            return f"launches from course {args.context} open event {args.event}"
    finally:
        await database.close()


@subcommand("lti")
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]):  # type: ignore[no-untyped-def]
    parser = sub.add_parser(
        "lti", help="LTI 1.3 platforms and course links", description=DESCRIPTION
    )
    lti = parser.add_subparsers(dest="lti_command", required=True, metavar="ACTION")
    lti.add_parser("list", help="show the registered platforms and their deployments")
    add = lti.add_parser("add-platform", help="register a platform (Moodle, Canvas, ...)")
    add.add_argument("--name", required=True, help="shown in messages, e.g. 'School Moodle'")
    add.add_argument("--issuer", required=True, help="the platform's issuer (iss), e.g. "
                     "https://moodle.example.org or https://canvas.instructure.com")
    add.add_argument("--client-id", required=True, help="the client id the platform gave classhub")
    add.add_argument("--auth-url", required=True,
                     help="the platform's OIDC authorization (authentication request) URL")
    add.add_argument("--jwks-url", required=True, help="the platform's public keyset URL")
    add.add_argument("--deployment", action="append", metavar="ID",
                     help="a deployment id launches may carry (repeat for several)")
    add.add_argument("--no-create", action="store_true",
                     help="refuse launches of people without a classhub account "
                     "(default: make the account at the first launch)")
    dep = lti.add_parser("add-deployment", help="accept launches with another deployment id")
    dep.add_argument("--platform", type=int, required=True, help="the platform's id (see list)")
    dep.add_argument("--deployment", required=True, help="the deployment id")
    link = lti.add_parser("link", help="launches from a course open an event's room")
    link.add_argument("--platform", type=int, required=True, help="the platform's id (see list)")
    link.add_argument("--context", required=True, help="the course's context id (the launch's "
                      "refusal page names it)")
    link.add_argument("--event", type=int, required=True, help="the event's id")

    def run(args: argparse.Namespace, settings: Settings) -> int:
        ensure_migrated(settings)
        try:
            print(asyncio.run(_act(args, settings)))
        except DomainError as exc:
            print(f"classhub lti {args.lti_command}: {exc.message}", file=sys.stderr)
            return 1
        return 0

    return run
