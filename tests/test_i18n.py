"""Chinese first, English through gettext: what a zh-hans and an en reader see."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.urls import reverse

from ecard import services
from tests.support import ROOT, make_staff

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z]{2,}")


class VisibleText(HTMLParser):
    """The words a reader sees: text outside script and style, and button and field labels."""

    HIDDEN = {"script", "style", "svg", "title", "noscript"}

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])
        for name in ("placeholder", "aria-label"):
            if attrs.get(name):
                self.parts.append(attrs[name])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.parts.append(data.strip())


def visible(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.parts


def english_in(parts, data=()):
    return sorted({word for part in parts if part not in data for word in WORD.findall(part)})


def chinese_in(parts, data=()):
    return sorted({part for part in parts if part not in data and CJK.search(part)})


@pytest.fixture
def latin_card(make_card, make_holder):
    # Data is not interface: an English reader's check needs a holder whose name is not Chinese.
    return make_card(holder=make_holder(name="Li Lei"))


@pytest.fixture
def superuser(db):
    return make_staff("root1", superuser=True)


@pytest.mark.parametrize("who", ["clerk", "supervisor", "superuser"])
def test_the_outlet_speaks_chinese_to_a_chinese_browser_and_english_to_an_english_one(
    request, client, latin_card, system, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    services.card_report_temporary_loss(card=latin_card, by=system)
    pages = [
        reverse("admin:index"),
        reverse("admin:ecard_card_changelist"),
        reverse("admin:ecard_card_change", args=[latin_card.pk]),
        reverse("admin:ecard_card_operate", args=[latin_card.pk, "lift"]),
        reverse("ecard-dashboard"),
        # The counter's journeys: their forms, with file and camera inputs.
        *(
            reverse("admin:ecard_card_operate", args=[latin_card.pk, operation])
            for operation in ("replace", "receive", "photo", "family_enrol")
        ),
        reverse("admin:ecard_cardapplication_walk_in"),
        reverse("admin:ecard_cardapplication_changelist"),
    ]
    if user.has_perm("ecard.correct_holder"):
        pages.append(reverse("admin:ecard_card_operate", args=[latin_card.pk, "correct"]))
    if user.has_perm("ecard.cancel_card"):
        pages.append(reverse("admin:ecard_card_operate", args=[latin_card.pk, "cancel"]))
    holder = latin_card.holder
    data = {latin_card.number, holder.name_masked, holder.id_number_masked, user.username, "ID"}
    for url in pages:
        zh = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        en = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        assert zh.status_code == en.status_code == 200, url
        assert zh["Content-Language"] == "zh-hans" and en["Content-Language"] == "en"
        assert english_in(visible(zh.content.decode()), data) == [], url
        assert chinese_in(visible(en.content.decode()), data) == [], url


def test_the_holders_page_speaks_chinese_to_a_chinese_browser_and_english_to_an_english_one(client, db):
    zh = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert english_in(visible(zh)) == []
    assert chinese_in(visible(en)) == []
    # The words the script shows come with the page, in its language, too.
    texts = re.search(r'<script id="texts" type="application/json">(.*?)</script>', en, re.S).group(1)
    assert chinese_in(strings(json.loads(texts))) == []
    zh_texts = re.search(r'<script id="texts" type="application/json">(.*?)</script>', zh, re.S).group(1)
    assert "需先通过人脸识别" in strings(json.loads(zh_texts))  # the check reads the texts at all


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in strings(item)]


def test_every_message_in_the_source_has_its_english(tmp_path, settings, monkeypatch):
    """makemessages over a copy of the code, then no entry may be untranslated or fuzzy."""
    for app in ("config", "ecard", "accounts", "codes", "plumbing"):
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["en"], no_obsolete=True, verbosity=0)
    po = tmp_path / "locale" / "en" / "LC_MESSAGES" / "django.po"
    for option in ("--untranslated", "--only-fuzzy"):
        left = subprocess.run(
            ["msgattrib", option, "--no-wrap", str(po)], capture_output=True, text=True, check=True
        ).stdout
        entries = [line for line in left.splitlines() if line.startswith("msgid ") and line != 'msgid ""']
        assert entries == [], f"{option[2:]} in the English catalogue: run `make messages` and translate"


def test_a_notice_is_recorded_in_chinese_and_in_english_whatever_language_was_active(
    app_holder, system, django_capture_on_commit_callbacks
):
    from django.utils import translation

    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        services.card_report_formal_loss(card=app_holder.card, by=system)
    notice = app_holder.get("/api/v1/notices", HTTP_ACCEPT_LANGUAGE="en").json()["results"][0]
    assert CJK.search(notice["title"]) and CJK.search(notice["body"])
    assert not CJK.search(notice["title_en"] + notice["body_en"]), notice


def test_every_notice_template_has_its_english():
    from django.utils.functional import lazy

    from ecard import notices

    word = lazy(lambda: "词", str)()  # a lazy parameter is worded in the text's own language
    params = {
        "card_tail": "5678",
        "valid_until": "2026-12-31",
        "deadline": "2026-12-01 00:00",
        "at": "10:00",
        "age": 16,
        "ward_name": "L*",
        "presenter": "L*",
        "member": "W*",
        "other": "W*",
        "why": "the provider no longer offers it",
        "relationship": "x",
        "days": 7,
        "minutes": 30,
        "provider": "ICBC",
        "kind": "x",
        "where": "x",
        "reason": "x",
    }
    for kind in notices.TEMPLATES:
        title, body, title_en, body_en = notices.render(kind, params)
        assert CJK.search(title + body) and not CJK.search(title_en + body_en), kind
    assert notices.render("application.withdrawn", {**params, "kind": word})[1].count("词") == 1
