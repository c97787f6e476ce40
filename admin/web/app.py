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
from admin.web import api, auth, crud, dashboard, health, resources, sessions, views
from admin.web.entities import EDITABLE, EXTRA_API, EXTRA_PAGES, LISTED
from admin.web.errors import handle_http_exception

PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
API_VERSION = "1"


def _template_globals(engine: JinjaTemplateEngine) -> None:
    environment: Environment = engine.engine
    environment.globals["navigation"] = [("Dashboard", "/")] + [
        (entity.label, f"/{entity.slug}") for entity in LISTED
    ]
    environment.globals["editable_slugs"] = frozenset(e.entity.slug for e in EDITABLE)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    keys = sessions.derive_keys(settings.secret_key)
    pages = Router(
        path="/",
        guards=[auth.requires_login],
        include_in_schema=False,
        route_handlers=[
            dashboard.dashboard,
            auth.logout,
            *(views.list_page(entity) for entity in LISTED),
            *(handler for editable in EDITABLE for handler in crud.pages(editable)),
            *EXTRA_PAGES,
        ],
    )
    json_api = Router(
        path=api.API_PREFIX,
        guards=[auth.requires_login],
        route_handlers=[
            *(api.list_endpoint(entity) for entity in LISTED),
            *(handler for editable in EDITABLE for handler in crud.api_routes(editable)),
            *EXTRA_API,
        ],
    )
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
        state=State({"settings": settings}),
        dependencies={
            "db": Provide(resources.provide_db),
            "redis": Provide(resources.provide_redis, sync_to_thread=False),
        },
        middleware=[sessions.session_config(settings, keys).middleware],
        csrf_config=sessions.csrf_config(settings, keys),
        template_config=TemplateConfig(
            directory=TEMPLATES_DIR,
            engine=JinjaTemplateEngine,
            engine_callback=_template_globals,
        ),
        openapi_config=OpenAPIConfig(
            title="Akira admin API",
            version=API_VERSION,
            description="Authenticated by the admin's session cookie; POSTs carry its CSRF header.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        exception_handlers={HTTPException: handle_http_exception},
    )
