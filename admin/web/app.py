"""The admin web app's one factory: ``akira serve`` runs ``create_app`` through uvicorn.

Everything the app holds open (the PostgreSQL pool, the Redis client) opens in the lifespan, so
building the app connects to nothing and each test builds its own against its own database.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from admin.settings import Settings
from admin.web import (
    access_pages,
    api,
    auth,
    crud,
    dashboard,
    health,
    live_calls,
    noc,
    publishing,
    ratedeck_import,
    reports,
    resources,
    sessions,
    simulator,
    views,
)
from admin.web.entities import EDITABLE, EXTRA_API, EXTRA_PAGES, LISTED
from admin.web.errors import DATABASE_OUTAGES, handle_database_outage, handle_http_exception
from admin.web.permissions import (
    CALLS_VIEW,
    PUBLISH,
    REPORTS_VIEW,
    TOKENS_MANAGE,
    USERS_MANAGE,
    allows,
    declare,
)
from admin.web.security import (
    API_SECURITY,
    SECURITY_SCHEMES,
    add_security_headers,
    documented_refusals,
)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
API_VERSION = "1"


def _template_globals(engine: JinjaTemplateEngine) -> None:
    environment: Environment = engine.engine
    private = {e.entity.slug: e.action for e in EDITABLE if e.private}
    environment.globals["navigation"] = [
        ("Dashboard", "/", None),
        *(
            (entity.label, f"/{entity.slug}", private.get(entity.slug))
            for entity in LISTED
            if entity.nav
        ),
        ("Simulator", "/simulate", None),
        ("Live calls", "/calls", CALLS_VIEW),
        ("NOC", "/noc", None),
        ("Reports", "/reports", REPORTS_VIEW),
        ("Tokens", "/tokens", TOKENS_MANAGE),
        ("Sessions", "/sessions", USERS_MANAGE),
    ]  # (label, link, the action a user needs to see it)
    environment.globals["editable_slugs"] = frozenset(e.entity.slug for e in EDITABLE)
    environment.globals["may"] = allows  # {% if may(user, "catalog.write") %}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    keys = sessions.derive_keys(settings.secret_key)
    pages = Router(
        path="/",
        guards=[auth.requires_login],
        include_in_schema=False,
        route_handlers=[
            dashboard.dashboard,
            dashboard.live,
            auth.logout,
            *declare(PUBLISH, [publishing.snapshot_status, publishing.publish_now]),
            simulator.simulator_page,
            *crud.restrict_private(
                EDITABLE,
                [
                    *(views.list_page(entity) for entity in LISTED),
                    *(crud.export_route(entity) for entity in LISTED),
                    *(h for e in EDITABLE for h in declare(e.action, crud.pages(e))),
                ],
            ),
            *EXTRA_PAGES,
            *ratedeck_import.PAGES,
            *live_calls.PAGES,
            *noc.PAGES,
            *access_pages.PAGES,
            *reports.PAGES,
        ],
    )
    json_api = Router(
        path=api.API_PREFIX,
        guards=[auth.requires_login],
        security=API_SECURITY,
        route_handlers=documented_refusals(
            [
                *crud.restrict_private(
                    EDITABLE,
                    [
                        *(api.list_endpoint(entity) for entity in LISTED),
                        *(h for e in EDITABLE for h in declare(e.action, crud.api_routes(e))),
                    ],
                ),
                simulator.simulate_api,
                *EXTRA_API,
                *reports.API,
                *live_calls.API,
                *noc.API,
                *access_pages.API,
            ]
        ),
    )
    state = State({"settings": settings})
    return Litestar(
        route_handlers=[
            auth.login_page,
            auth.login,
            health.healthz,
            pages,
            json_api,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], include_in_schema=False
            ),
        ],
        lifespan=[resources.database_pool, resources.redis_client],
        state=state,
        stores={sessions.SESSION_STORE: sessions.PostgresSessionStore(state, keys.session)},
        dependencies={
            "db": Provide(resources.provide_db),
            "redis": Provide(resources.provide_redis, sync_to_thread=False),
        },
        middleware=[
            sessions.session_config(settings).middleware,
            sessions.csrf_middleware(settings, keys),
        ],
        before_send=[add_security_headers],
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR,
            engine=JinjaTemplateEngine,
            engine_callback=_template_globals,
        ),
        openapi_config=OpenAPIConfig(
            title="Akira admin API",
            version=API_VERSION,
            description="Authenticated by an API token (`Authorization: Bearer "
            "akira_<id>_<secret>`, from `akira tokens create`) or the admin's session cookie, "
            "whose unsafe requests carry its CSRF header.",
            path="/schema",
            components=SECURITY_SCHEMES,
            render_plugins=[JsonRenderPlugin()],
        ),
        exception_handlers={
            HTTPException: handle_http_exception,
            **dict.fromkeys(DATABASE_OUTAGES, handle_database_outage),
        },
    )
