"""The police room's pages: server-rendered shells (Jinja2) in the site's language.

A page carries no data of its own: its script asks the API as the signed-in user (the session
cookie), so a shell is open to anyone and every record stays behind the API's roles and audit.
``?lang=en`` (or ``zh-CN``) switches the language and is remembered in a cookie.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from server.api.deps import Server, Viewer
from server.api.schemas import Site
from server.i18n import catalogue, choose, text

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "templates")
LANG_COOKIE = "gw_lang"

router = APIRouter(include_in_schema=False)
# The pages (path -> template); the guard lets these through (shells only, no data).
PAGES = {
    "/wall": "wall.html",
    "/elders": "elders.html",
    "/visits": "visits.html",
    "/search": "search.html",
    "/alerts": "alerts.html",
    "/visitors": "visitors.html",
    "/review": "review.html",
    "/audit": "audit.html",
    "/gates": "gates.html",
}
PAGE_PREFIXES = ("/person/",)


def render(request: Request, app: Server, template: str, **ctx: Any) -> HTMLResponse:  # noqa: ANN401
    """``template`` in the caller's language, with the catalogue and the site for its script."""
    asked = request.query_params.get("lang")
    lang = choose(asked, request.cookies.get(LANG_COOKIE), app.cfg.locale)
    site = {"site": app.cfg.site, "locale": lang, "timezone": app.cfg.timezone,
            "stale_after_s": app.cfg.wall.stale_after_s,
            "names": app.cfg.names.public()}  # fmt: skip

    def t(key: str, **values: object) -> str:
        return text(lang, key, **values)

    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "lang": lang,
            "other_lang": "en" if lang == "zh-CN" else "zh-CN",
            "strings_json": json.dumps(catalogue(lang), ensure_ascii=False),
            "site_json": _script_json(site | ctx),
            "names": app.cfg.names,
            "page": template.removesuffix(".html"),
            **ctx,
        },
    )
    if asked == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/wall", status_code=307)


def _page(path: str, template: str) -> None:
    def page(request: Request, app: Server) -> HTMLResponse:
        return render(request, app, template)

    router.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse)


for _path, _template in PAGES.items():
    _page(_path, _template)


@router.get("/person/{person_id}", response_class=HTMLResponse)
def person_page(
    request: Request, app: Server, person_id: Annotated[str, PathParam(max_length=200)]
) -> HTMLResponse:
    """The person page; what is not an id (a name: /person/王秀华) the page looks up by name
    (查无此人 with the matches, or the one match opened)."""
    return render(request, app, "person.html", person_id=person_id)


def _script_json(value: object) -> str:
    """JSON safe inside <script>: no '<' (a '</script>' in a name in the URL ends nothing)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


site_router = APIRouter(prefix="/api", tags=["session"])


@site_router.get("/site")
def site(app: Server, _u: Viewer) -> Site:
    """The site's settings a client needs: id, language, time zone, how the wall shows names,
    whose calibration curve the gates use."""
    c = app.cfg
    return Site(
        site=c.site,
        locale=c.locale,
        timezone=c.timezone,
        wall_names=c.wall.names,
        population=c.site_population,
        names=c.names.public(),
    )
