"""The API docs without internet: /docs loads Swagger UI from the server (the files an installed
package ships), needs a credential, and renders in real Chromium reaching nothing else."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.server.browser import chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import auth

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def referenced(html: str) -> list[str]:
    """Every src/href of the page and every URL its inline script names."""
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(
        r"""(?:\burl\s*:\s*|spec-url=)["']([^"']+)["']""", html
    )


def test_no_redoc_its_logo_comes_from_a_cdn(client, server) -> None:
    assert client.get("/redoc", headers=auth(server, "viewer")).status_code == 404


@pytest.mark.parametrize("page", ["/docs"])
def test_docs_pages_name_no_other_host_and_their_files_are_served(client, server, page) -> None:
    assert client.get(page).status_code == 401, "the docs need a credential"
    r = client.get(page, headers=auth(server, "viewer"))
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert not re.search(r"https?:|//\w", r.text), "a URL of another host"
    urls = referenced(r.text)
    assert "/openapi.json" in urls and all(u.startswith("/") for u in urls), urls
    assets = [u for u in urls if u.startswith("/static-docs/")]
    assert len(assets) >= 2, urls  # script (and style), besides the favicon
    for url in assets:
        got = client.get(url)  # open, like /static/: no credential
        assert got.status_code == 200, url
        assert len(got.content) > 1000, url
    assert (
        client.get("/static-docs/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_only_the_docs_pages_go_without_the_content_security_policy(client, server) -> None:
    h = auth(server, "viewer")
    assert "content-security-policy" not in client.get("/docs", headers=h).headers
    assert "content-security-policy" in client.get("/static-docs/swagger-ui.css").headers
    assert "content-security-policy" in client.get("/docs/x", headers=h).headers
    assert "content-security-policy" in client.get("/wall").headers


@needs_chromium
def test_swagger_ui_renders_the_operations_from_the_server_alone(server, http_url) -> None:
    from selenium.webdriver.common.by import By

    driver = chrome("1080p")
    try:
        sign_in(driver, http_url, server.tokens["viewer"])  # the session cookie
        driver.get(http_url + "/docs")
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
        text = driver.find_element(By.CSS_SELECTOR, ".swagger-ui").text
        assert "/api/trajectory/{identity}" in text and "/api/site" in text
        assert not driver.find_elements(By.CSS_SELECTOR, ".errors-wrapper .error-wrapper")
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([...document.querySelectorAll('[src],[href]')]"
            ".map(e => e.src || e.href).filter(Boolean))"
        )
        origin = urlsplit(http_url).netloc
        others = [u for u in fetched if urlsplit(u).scheme in ("http", "https")
                  and urlsplit(u).netloc != origin]  # fmt: skip
        assert not others, f"the docs reached beyond the server: {others}"
        assert any(u.endswith("/openapi.json") for u in fetched), fetched
        shoot(driver, "docs", lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    finally:
        driver.quit()
