"""The Starlette application: lifespan, middleware, routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

import web.routes  # noqa: F401 - registers every operation on API
from storage.db import Database
from storage.settings import Settings
from web.api import API
from web.errors import EXCEPTION_HANDLERS
from web.security_headers import SecurityHeaders
from web.services import Services
from web.slash_redirect import RelativeSlashRedirect

log = logging.getLogger("classhub")


class WebSocketFastPath:
    """Hands ``/ws`` to the hub's endpoint ahead of Starlette's exception middleware.

    That middleware wraps ``send`` in a closure for every connection, which hides
    the server's protocol object: the hub could then only write through ASGI
    ``send`` (one await, one ``websockets`` frame serialisation and a wrapper call
    per frame) instead of writing each shared, pre-built frame straight to the
    socket (realtime/transport.py). Measured on the classroom load test this path
    was most of the server's CPU per delivery. The endpoint is a plain ASGI app
    that answers every error itself, so it needs none of the wrappers.
    """

    def __init__(self, app: ASGIApp) -> None:
        from web.ws_endpoint import WebSocketEndpoint

        self.app = app
        self.ws = WebSocketEndpoint()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/ws":
            await self.ws(scope, receive, send)
        else:
            await self.app(scope, receive, send)


@asynccontextmanager
async def in_process_mailer(services: Services, enabled: bool) -> AsyncIterator[None]:
    """A ``classhub mailer`` worker as a task of this process, its progress through our hub."""
    if not enabled or services.settings.mail is None:
        yield
        return
    import asyncio

    from realtime.mailer.jobs import JobContext, JobRunner, load_job_modules
    from realtime.mailer.worker import MailWorker
    from web.mailer_glue import register_builtin_jobs

    load_job_modules()
    register_builtin_jobs(services.settings)
    hub = services.hub
    worker = MailWorker(
        services.settings, services.db,
        publish=hub.broadcast if hub is not None else None,
        jobs=JobRunner(JobContext(services.settings, services.db)),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="in-process-mailer")
    log.info(
        "mailer running inside this server, sending to %s", services.settings.mail.target.describe()
    )
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 15)
        except Exception:  # noqa: BLE001 - leased mail is retried by the next worker
            task.cancel()
            log.warning(
                "the in-process mailer did not stop in time; its leased mail is retried later"
            )


@asynccontextmanager
async def webhook_deliveries(services: Services) -> AsyncIterator[None]:
    """This process's webhook worker (realtime/webhook_worker.py): every process runs one;
    leases keep them from sending one delivery twice."""
    import asyncio

    from realtime.webhook_worker import WebhookWorker

    worker = WebhookWorker(services.settings, services.db)
    services.extras["webhook_worker"] = worker
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="webhook-worker")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, services.settings.webhook_timeout_secs + 5)
        except Exception:  # noqa: BLE001 - leased deliveries are sent again after the lease
            task.cancel()
            log.warning("the webhook worker did not stop in time; its leased rows are retried")
        services.extras.pop("webhook_worker", None)


def create_app(settings: Settings | None = None, *, mailer: bool = False) -> Starlette:
    """The application; ``mailer=True`` also runs a mail worker inside it (``serve --mailer``:
    one process sends its own mail, as the embedded default's demo does)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        services = Services(settings=settings, db=db)
        app.state.services = services
        try:
            from web.activity_live import activity_live
            from web.hub_glue import start_hub
            from web.qa_live import qa_votes
            from web.routes.pinboard_release import release_writer

            # The release, answer and vote writers fan out through the hub: they stop first.
            async with (
                start_hub(services),
                release_writer(services),
                activity_live(services),
                qa_votes(services),
                in_process_mailer(services, mailer),
                webhook_deliveries(services),
            ):
                yield
        finally:
            from web.photo_decoding import close_decode_pool

            close_decode_pool(services)
            await services.signins.close()
            await db.close()

    routes: list[BaseRoute] = [*API.routes()]
    from web.extra_routes import extra_routes

    routes.extend(extra_routes())
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        # Outermost first: WebSockets skip everything; every HTTP answer gets the headers.
        middleware=[
            Middleware(WebSocketFastPath),
            Middleware(SecurityHeaders, https=settings.secure_cookies),
        ],
    )
    app.router.redirect_slashes = False
    app.router.default = RelativeSlashRedirect(app.router)
    return app
