"""The pages' shells: one catalogue per language with the same keys, every key a page uses is in
it, Chinese by default, English when asked (and remembered), no data without signing in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.i18n import LOCALES, catalogue

SERVER = Path(__file__).resolve().parents[2] / "server"
# t("key"), t('key'), GW.t("key") and text(lang, "key") with a literal key.
USED = re.compile(r"""(?:\bt|GW\.t|text\(\w+,)\s*\(?\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")


def test_catalogues_have_the_same_keys_and_no_empty_string() -> None:
    zh, en = (catalogue(loc) for loc in LOCALES)
    assert set(zh) == set(en), f"only zh-CN: {set(zh) - set(en)}; only en: {set(en) - set(zh)}"
    for loc in LOCALES:
        assert all(v.strip() for v in catalogue(loc).values()), f"an empty string in {loc}"
    assert re.search(r"[\u4e00-\u9fff]", catalogue("zh-CN")["app.title"])


def test_every_key_the_pages_use_is_in_the_catalogue() -> None:
    files = [*SERVER.glob("templates/*.html"), *SERVER.glob("static/js/*.js")]
    used = {k for f in files for k in USED.findall(f.read_text(encoding="utf-8"))}
    assert used, "the pattern found no key at all"
    missing = used - set(catalogue("zh-CN"))
    assert not missing, f"keys used but not in the catalogues: {sorted(missing)}"


def test_catalogue_files_are_valid_json_objects() -> None:
    for loc in LOCALES:
        data = json.loads((SERVER / "i18n" / f"{loc}.json").read_text(encoding="utf-8"))
        assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())


PAGES = ["/wall", "/elders", "/visits", "/search", "/alerts", "/visitors", "/audit", "/person/p-1"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pages_are_chinese_by_default_and_english_when_asked(client) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        assert '<html lang="zh-CN">' in r.text and catalogue("zh-CN")["app.title"] in r.text, path
        assert "content-security-policy" in r.headers
    r = client.get("/wall?lang=en")
    assert '<html lang="en">' in r.text and catalogue("en")["wall.title"] in r.text
    # remembered: the next page without ?lang is English too
    assert '<html lang="en">' in client.get("/elders").text
    client.get("/elders?lang=zh-CN")
    assert '<html lang="zh-CN">' in client.get("/alerts").text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_shells_carry_no_data_and_the_api_still_needs_a_login(client, server) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/wall"
    assert client.get("/api/site").status_code == 401
    r = client.get("/api/site", headers={"Authorization": f"Bearer {server.tokens['viewer']}"})
    assert r.json() == {
        "site": server.cfg.site,
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
        "wall_names": "masked",
        "population": "east_asian",  # a zh-CN site's default
        "names": {"site": None, "gates": {}},  # no display names: ids are shown
    }
    # Not an id (a name in the URL): the shell, whose script looks the name up (查无此人 or the
    # one match); what was asked cannot end the page's script (test_words.py).
    r = client.get("/person/%E7%8E%8B%E7%A7%80%E5%8D%8E%3Cb%3E")
    assert r.status_code == 200 and "<b>" not in r.text and "王秀华" in r.text


def test_a_timezone_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    from contract.config import ConfigError
    from server.config import load_server_config

    f = tmp_path / "s.yaml"
    f.write_text(f"site: s1\ndata_dir: {tmp_path}\ntimezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match="IANA"):
        load_server_config(f)
