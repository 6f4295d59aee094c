"""The pages a person opens: what they load and who may open them (the browser tests look)."""

import re

import pytest

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/api/redoc/"])
def test_a_page_names_nothing_outside_the_app_and_its_policy_forbids_it(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html) and "cdn" not in html.lower()
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "http" not in policy


def test_the_h5_page_is_chinese_by_default_and_english_for_an_english_browser(client):
    assert '<html lang="zh-hans">' in client.get("/").content.decode()
    assert '<html lang="en">' in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_h5_page_is_never_cached(client):
    assert client.get("/")["Cache-Control"] == "no-store"


def test_the_scanner_demo_is_a_404_unless_switched_on(client, settings):
    settings.SCANNER_DEMO = True
    assert client.get("/scanner-demo").status_code == 200
    settings.SCANNER_DEMO = False
    assert client.get("/scanner-demo").status_code == 404
    assert client.post("/scanner-demo", {"code": "EC1:x"}).status_code == 404


def test_the_scanner_demo_says_what_is_wrong_with_a_code_that_is_not_one(client, settings, db):
    settings.SCANNER_DEMO = True
    page = client.post("/scanner-demo", {"code": "not a code"}).content.decode()
    assert 'data-result="rejected"' in page


def test_the_scanner_demo_asks_for_a_code_or_a_picture(client, settings, db):
    settings.SCANNER_DEMO = True
    page = client.post("/scanner-demo", {}).content.decode()
    assert "请粘贴二维码内容或上传图片" in page and 'id="verdict"' not in page
