"""The API's documentation pages, served without internet.

FastAPI's own /docs loads Swagger UI from a CDN, blank on the compound's offline network. Here it
loads the copy the ``fastapi-offline`` package ships (Swagger UI 5, which reads FastAPI's OpenAPI
3.1 document), mounted at ``ASSETS``. The page needs a credential like any route (the guard); its
assets are open, like /static/. There is no /redoc: ReDoc fetches its logo from its maker's CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/static-docs"
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# No validator badge: Swagger UI would send the schema's URL to validator.swagger.io.
SWAGGER_PARAMETERS = {"validatorUrl": None}


def add_docs(api: FastAPI) -> None:
    """/docs (Swagger UI) on ``api``, made with ``docs_url=None, redoc_url=None``, its script
    and style from the installed package."""
    api.mount(ASSETS, StaticFiles(directory=ASSETS_DIR), name="static-docs")
    openapi = api.openapi_url or "/openapi.json"

    @api.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi,
            title=f"{api.title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
