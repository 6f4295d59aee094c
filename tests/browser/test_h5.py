"""What people see, in a real browser: Debian's Chromium driven by Playwright for Python.

The holder's H5 page, the offline API docs and the outlet, each loaded from the live test server
with every request watched: none may leave 127.0.0.1. Screenshots land in var/screenshots/ (CI
keeps them as artefacts; they are not committed).
"""

from __future__ import annotations

import io
import os
from urllib.parse import quote, urlsplit

import pytest
import zxingcpp
from PIL import Image

from tests.support import CHROMIUM, PASSWORD, SCREENSHOTS

# Written as functions: Playwright evaluates a bare expression with eval, which the page's
# Content-Security-Policy (rightly) refuses.
DRAWN = "() => document.getElementById('qr').naturalWidth > 0"
# A family member's code on screen, loaded: the argument is the link's id.
MEMBER_DRAWN = (
    "id => (i => i.dataset.member === id && i.complete && i.naturalWidth > 0)(document.getElementById('qr'))"
)

# The live server needs committed data; serialized_rollback brings back what migrations made
# (the staff groups) after another transactional test flushed it.
pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True)]
if not os.path.exists(CHROMIUM):  # CI installs it (.ci/run); a bare machine skips these
    pytestmark.append(
        pytest.mark.skipif(not os.environ.get("CI"), reason="Debian's chromium is not installed")
    )


def phone_context():
    return {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "locale": "zh-CN"}


def screenshot(page, name: str, **options) -> bytes:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return page.screenshot(path=str(SCREENSHOTS / name), **options)


def decode(png: bytes) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert found, "no QR code found in the screenshot"
    return found[0].text


def sign_in(page, base: str, phone: str, password: str):
    page.goto(base + "/")
    page.fill("input[name=phone]", phone)
    page.fill("input[name=password]", password)
    page.click("#sign-in-form button[type=submit]")


# --------------------------------------------------------------------------- the holder's page


class TestTheHoldersPage:
    def test_a_holder_signs_in_shows_a_live_code_that_scans_refreshes_and_stops_when_reported_lost(
        self, browse, live_server, settings, app_holder, scanner
    ):
        from tests.support import PASSWORD

        settings.QR_LIFETIMES = {**settings.QR_LIFETIMES, "payment": 6}
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, "13800000001", PASSWORD)

        qr = page.locator("#qr")
        qr.wait_for(state="visible")
        page.wait_for_function(DRAWN)
        assert page.locator("#card-state").inner_text() == "正常"
        assert (
            page.locator("#service-list li[data-purpose=payment]").get_attribute("data-verdict") == "allowed"
        )
        assert "秒后自动刷新" in page.locator("#qr-status").inner_text()

        # The code as a scanner's camera sees it: decoded from the screen, verified online.
        first = decode(screenshot(page, "h5-code.png", full_page=True))
        assert first == qr.get_attribute("data-code")
        verdict = scanner.verdict(first)
        assert verdict["result"] == "accepted" and verdict["purpose"] == "payment"

        # Before it expires the page draws a fresh one by itself.
        page.wait_for_function(
            "first => document.getElementById('qr').dataset.code !== first", arg=first, timeout=15000
        )
        page.wait_for_function(DRAWN)
        second = decode(qr.screenshot())
        assert second != first and scanner.verdict(second)["result"] == "accepted"

        # The scan shows in the history once the page loads again (after the loss report).
        page.click("#report-lost")
        page.click("#confirm-lost-yes")
        page.wait_for_selector("#card-state[data-state=temporarily_lost]")
        assert page.locator("#card-deadline").is_visible()
        payment = page.locator("#service-list li[data-purpose=payment]")
        assert payment.get_attribute("data-verdict") == "needs_authorisation"
        # No code for payment without an authorisation: the page says why instead.
        page.wait_for_function(
            "() => (s => s.textContent && !s.textContent.includes('刷新'))"
            "(document.getElementById('qr-status'))"
        )
        assert page.locator("#qr").is_hidden()
        assert page.locator("#authorise").is_visible()
        assert page.locator("#usage-list li").first.inner_text().count("通过") == 1
        screenshot(page, "h5-lost.png", full_page=True)

        # The holder lets payment work for a while; the page shows a code again.
        page.fill("#authorise-form input[name=password]", "802461")
        page.click("#authorise-form button[type=submit]")
        page.wait_for_selector("#authorisation-list li")
        page.wait_for_function(DRAWN)
        verdict = scanner.verdict(decode(screenshot(page.locator("#qr"), "h5-authorised.png")))
        assert verdict["result"] == "accepted" and verdict["authorised_by_holder"] is True

    def test_with_the_network_gone_the_page_keeps_showing_fresh_codes_it_signs_itself(
        self, browse, live_server, settings, app_holder, scanner
    ):
        from tests.codes.test_verifier import offline_gate
        from tests.support import PASSWORD

        settings.QR_LIFETIMES = {**settings.QR_LIFETIMES, "culture": 6, "identity": 6}
        gate, _ = offline_gate(scanner)  # what the gate synced while it still had a network
        watched = browse(**phone_context())
        page = watched.page
        sign_in(page, live_server.url, "13800000001", PASSWORD)
        page.wait_for_selector("#qr[data-kind=server]")
        page.wait_for_function("() => document.body.dataset.device")  # the page holds a certificate

        watched.context.set_offline(True)
        page.click("[role=tab][data-purpose=culture]")
        page.wait_for_selector("#qr[data-kind=device]")
        first = page.locator("#qr").get_attribute("data-code")
        page.wait_for_function(
            "first => document.getElementById('qr').dataset.code !== first", arg=first, timeout=15000
        )
        page.wait_for_function(DRAWN)
        shown = decode(screenshot(page.locator("#qr"), "h5-offline.png"))
        result = gate.verify(shown, purposes=["culture"])
        assert result.accepted, result.code
        assert result.parsed.certificate is not None and result.parsed.purpose == "culture"
        assert "离线码" in page.locator("#qr-status").inner_text()

    def test_a_providers_proposal_waits_on_the_page_until_the_holder_confirms_it_with_the_password(
        self, browse, live_server, app_holder, tmp_path
    ):
        from tests.ecard.services.test_payments import Provider
        from tests.support import PASSWORD

        proposed = Provider(tmp_path).propose(app_holder.card)
        assert proposed.status_code == 201 and proposed.json()["state"] == "pending"
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, "13800000001", PASSWORD)
        page.wait_for_selector("#agreement-list li[data-state=pending]")
        assert "工商银行" in page.locator("#agreement-asked").inner_text()
        transit = page.locator("#service-list li[data-purpose=transit]")
        assert transit.get_attribute("data-verdict") == "denied"  # nothing pays before the holder says so
        screenshot(page, "h5-agreement-pending.png", full_page=True)

        page.fill("#agreement-form input[name=password]", "000000")
        page.click("#agreement-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('agreement-error').textContent.length > 0")
        assert page.locator("#agreement-list li[data-state=live]").count() == 0

        page.fill("#agreement-form input[name=password]", "802461")
        page.click("#agreement-form button[type=submit]")
        page.wait_for_selector("#agreement-list li[data-state=live]")
        assert page.locator("#agreement-form").is_hidden()
        page.wait_for_selector("#service-list li[data-purpose=transit][data-verdict=allowed]")

    def test_the_token_stays_in_the_pages_memory_and_a_reload_signs_out(
        self, browse, live_server, app_holder
    ):
        from tests.support import PASSWORD

        page = browse(**phone_context()).page
        sign_in(page, live_server.url, "13800000001", PASSWORD)
        page.wait_for_selector("#qr[data-code]")
        stored = page.evaluate("JSON.stringify([Object.keys(localStorage), Object.keys(sessionStorage)])")
        assert stored == "[[],[]]" and page.context.cookies() == []
        page.reload()
        assert page.locator("#sign-in").is_visible() and page.locator("#app").is_hidden()

    def test_a_wrong_password_is_refused_with_a_message_and_no_code(self, browse, live_server, app_holder):
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, "13800000001", "not-the-password")
        page.wait_for_function("() => document.getElementById('sign-in-error').textContent.length > 0")
        assert page.locator("#app").is_hidden()

    def test_an_english_browser_gets_the_page_in_english(self, browse, live_server, app_holder):
        from tests.support import PASSWORD

        page = browse(**{**phone_context(), "locale": "en-US"}).page
        sign_in(page, live_server.url, "13800000001", PASSWORD)
        page.wait_for_selector("#qr[data-code]")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#card-state").get_attribute("data-state") == "active"
        assert page.locator("#card-state").inner_text() == "Active"
        assert "Report" in page.locator("#report-lost").inner_text()
        screenshot(page, "h5-en.png", full_page=True)

    def test_the_scanner_demo_verifies_an_uploaded_code_image(
        self, browse, live_server, settings, app_holder, tmp_path
    ):
        from tests.support import issue_code

        settings.SCANNER_DEMO = True
        text = issue_code(app_holder)
        image = app_holder.get(f"/api/v1/codes/{quote(text, safe='')}.png")
        assert image.status_code == 200 and image["Content-Type"] == "image/png"
        upload = tmp_path / "code.png"
        upload.write_bytes(image.content)
        page = browse(**phone_context()).page
        page.goto(live_server.url + "/scanner-demo")
        page.set_input_files("input[name=image]", str(upload))
        page.click("button[type=submit]")
        verdict = page.locator("#verdict")
        assert verdict.get_attribute("data-result") == "accepted"
        assert app_holder.card.holder.name_masked in verdict.inner_text()
        # The same code again: single use, so the demo device is told it was replayed.
        page.fill("textarea[name=code]", text)
        page.click("button[type=submit]")
        assert page.locator("#verdict").get_attribute("data-code") == "code.replayed"


# --------------------------------------------------------------------------- the API docs


@pytest.mark.parametrize("path, ready", [("/api/docs/", ".swagger-ui .info .title"), ("/api/redoc/", "h1")])
def test_the_api_docs_render_from_the_app_alone(browse, live_server, path, ready):
    page = browse().page
    page.goto(live_server.url + path)
    page.wait_for_selector(ready, timeout=20000)
    assert "ecard API" in page.locator(ready).first.inner_text()
    screenshot(page, f"docs-{path.strip('/').replace('/', '-')}.png")


# --------------------------------------------------------------------------- the outlet


def staff_session(browser_context, client, user, live_server):
    client.force_login(user)
    host = urlsplit(live_server.url).hostname
    browser_context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )


def overlapping(boxes: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    def meet(a, b):
        return (
            a["x"] < b["x"] + b["width"] - 0.5
            and b["x"] < a["x"] + a["width"] - 0.5
            and a["y"] < b["y"] + b["height"] - 0.5
            and b["y"] < a["y"] + a["height"] - 0.5
        )

    return [(na, nb) for i, (na, a) in enumerate(boxes) for nb, b in boxes[i + 1 :] if meet(a, b)]


@pytest.mark.parametrize("width", [1280, 1024])
def test_a_cards_action_buttons_do_not_overlap_its_title_or_each_other(
    browse, live_server, client, supervisor, card, width
):
    watched = browse(viewport={"width": width, "height": 900}, locale="zh-CN")
    staff_session(watched.context, client, supervisor, live_server)
    page = watched.page
    page.goto(f"{live_server.url}/admin/ecard/card/{card.pk}/change/")
    screenshot(page, f"admin-card-{width}.png", full_page=True)
    buttons = page.locator(".object-tools li a")
    assert buttons.count() >= 9
    boxes = [(buttons.nth(i).inner_text(), buttons.nth(i).bounding_box()) for i in range(buttons.count())]
    for title in ("#content h1", "#content h2"):
        if page.locator(title).count():
            boxes.append((title, page.locator(title).first.bounding_box()))
    assert overlapping(boxes) == []
    assert all(box["x"] + box["width"] <= width for _, box in boxes)  # nothing off the side


def test_the_dashboard_draws_scans_and_loss_reports_as_charts_with_the_numbers_in_a_table(
    browse, live_server, client, supervisor, app_holder, scanner, make_card, system
):
    from ecard import services
    from tests.support import issue_code

    scanner.verdict(issue_code(app_holder))
    for _ in range(3):
        services.card_report_temporary_loss(card=make_card(), by=system)
    watched = browse(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff_session(watched.context, client, supervisor, live_server)
    page = watched.page
    page.goto(f"{live_server.url}/admin/dashboard/")
    screenshot(page, "dashboard.png", full_page=True)
    scans = page.locator("#chart-scans svg")
    losses = page.locator("#chart-losses svg")
    assert scans.is_visible() and losses.is_visible()
    assert scans.locator("[data-count]").count() == 24 * 60
    assert losses.locator("[data-count]").count() == 30
    assert scans.locator("[data-count='1']").count() == 1
    assert losses.locator("[data-count='3']").count() == 1
    # The numbers stay readable as a table beside each chart.
    assert page.locator("#chart-losses table tr").filter(has_text="3").count() >= 1


def test_a_refused_service_shows_why_on_the_page_in_the_browsers_language(browse, live_server, app_holder):
    page = browse(**phone_context()).page
    sign_in(page, live_server.url, "13800000001", PASSWORD)
    transit = page.locator("#service-list li[data-purpose=transit]")
    transit.wait_for()
    assert transit.get_attribute("data-verdict") == "denied"
    assert "乘车码需先绑定支付方式" in transit.locator(".reason").inner_text()
    assert "乘车码需先绑定支付方式" in page.locator("[role=tab][data-purpose=transit]").get_attribute("title")
    assert page.locator("#service-list li[data-purpose=identity] .reason").count() == 0
    screenshot(page, "h5-refusal-reason.png", full_page=True)

    english = browse(**{**phone_context(), "locale": "en-GB"}).page
    sign_in(english, live_server.url, "13800000001", PASSWORD)
    reason = english.locator("#service-list li[data-purpose=transit] .reason")
    reason.wait_for()
    assert "payment" in reason.inner_text().lower() and "乘车码" not in reason.inner_text()


def test_a_holder_with_two_cards_sees_both_and_which_one_the_codes_are_on(
    browse, live_server, app_holder, make_card
):
    make_card(holder=app_holder.card.holder, region="44", state="sealed", received=False)  # being made
    page = browse(**phone_context()).page
    sign_in(page, live_server.url, "13800000001", PASSWORD)
    page.wait_for_selector("#cards:not([hidden]) #card-list li")
    rows = page.locator("#card-list li")
    assert rows.count() == 2
    current = page.locator("#card-list li[data-current=true]")
    assert current.get_attribute("data-region") == "11" and "二维码在此卡上" in current.inner_text()
    assert "制卡中" in page.locator("#card-list li[data-region='44']").inner_text()
    screenshot(page, "h5-two-cards.png", full_page=True)


def test_a_holder_with_one_card_is_not_shown_a_list_of_one(browse, live_server, app_holder):
    page = browse(**phone_context()).page
    sign_in(page, live_server.url, "13800000001", PASSWORD)
    page.wait_for_selector("#service-list li")
    assert page.locator("#cards").is_hidden()
