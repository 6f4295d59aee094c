"""The outlet's counter journeys in a real browser, as a clerk or supervisor clicks through the
admin: a walk-in served from ID document to collected card, a data change whose new card carries
the new name (and its pick-up certificate, scanned off the printed page), a death cancellation,
and an elderly parent with no smartphone added to a family account and shown by the presenter."""

from __future__ import annotations

import datetime

from django.conf import settings

from ecard.models import AuditEvent, Card, CardApplication, CardState, FamilyLink, PaymentAgreement
from tests.browser.test_h5 import (  # noqa: F401
    DRAWN,
    MEMBER_DRAWN,
    decode,
    phone_context,
    pytestmark,
    screenshot,
    sign_in,
    staff_session,
)
from tests.browser.test_h5_screens import photo
from tests.support import DEATH_CERTIFICATE, PASSWORD, make_id_number

OUTLET = "东城区社保卡服务网点"


def desk(browse, client, user, live_server):
    watched = browse(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff_session(watched.context, client, user, live_server)
    return watched


def card_page(page, live_server, card):
    page.goto(f"{live_server.url}/admin/ecard/card/{card.pk}/change/")


def operate(page, name: str):
    page.click(f".card-operations a[data-operation={name}]")
    page.wait_for_selector("form[enctype='multipart/form-data']")


def confirm(page):
    page.click("form input[type=submit].default")
    page.wait_for_selector(".messagelist")


def run_action(page, live_server, application, action: str):
    page.goto(f"{live_server.url}/admin/ecard/cardapplication/")
    page.check(f"input[name=_selected_action][value='{application.pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")


class TestAtTheCounter:
    def test_a_clerk_serves_a_walk_in_from_the_id_document_to_a_collected_enabled_card(
        self, browse, live_server, client, clerk, tmp_path
    ):
        page = desk(browse, client, clerk, live_server).page
        page.goto(f"{live_server.url}/admin/ecard/cardapplication/")
        page.click("text=窗口申领")
        page.fill("input[name=name]", "周 晓 梅")
        page.select_option("select[name=id_type]", "resident_id")
        page.fill("input[name=id_number]", make_id_number(datetime.date(1992, 8, 8)))
        page.select_option("select[name=region]", "11")
        page.fill("input[name=phone]", "13900002222")
        page.fill("input[name=outlet]", OUTLET)
        assert page.get_attribute("input[name=photo]", "capture") == "user"  # the counter's camera
        page.set_input_files("input[name=photo]", photo(tmp_path))
        screenshot(page, "outlet-walk-in.png", full_page=True)
        page.click("input[type=submit].default")
        page.wait_for_selector(".messagelist .success")
        application = CardApplication.objects.get()
        assert application.state == "accepted" and application.holder.photo

        for action in ("start_production", "mark_ready", "mark_collected"):
            run_action(page, live_server, application, action)
        card = CardApplication.objects.get().new_card
        assert card.received_at is not None

        card_page(page, live_server, card)
        assert "周*" in page.locator(".card-printed").inner_text()
        page.click(".card-operations a[data-operation=enable]")
        confirm(page)
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        screenshot(page, "outlet-walk-in-collected.png", full_page=True)

    def test_a_data_change_makes_a_new_card_with_the_new_name_and_its_certificate_scans(
        self, browse, live_server, client, supervisor, app_holder, make_scanner, tmp_path
    ):
        from tests.ecard.test_certificate import qr_of

        card = app_holder.card
        before = card.holder.name
        watched = desk(browse, client, supervisor, live_server)
        page = watched.page
        card_page(page, live_server, card)
        operate(page, "correct")
        page.fill("input[name=name]", "张新名")
        page.fill("input[name=id_number]", card.holder.id_number)
        page.fill("input[name=outlet]", OUTLET)
        page.set_input_files("input[name=photo]", photo(tmp_path))
        confirm(page)
        new = Card.objects.get(replaces=card)
        assert page.url.endswith(f"/admin/ecard/card/{new.pk}/change/")  # on the new card's page
        assert "张*" in page.locator(".card-printed").inner_text()
        assert new.name_on_card == "张新名" and Card.objects.get(pk=card.pk).name_on_card == before
        assert AuditEvent.objects.get(action="holder.corrected").previous_name == before
        screenshot(page, "outlet-data-change.png", full_page=True)

        link = page.locator(".card-certificates a").first
        pdf = watched.context.request.get(live_server.url + link.get_attribute("href")).body()
        hospital = make_scanner(
            organisation="北京协和医院", kind="medical", purposes=("payment", "certificate")
        )
        verdict = hospital.verdict(qr_of(pdf, tmp_path))
        assert verdict["result"] == "accepted" and verdict["holder"] == "张*名"

    def test_a_death_cancellation_ends_the_ecard_its_family_links_and_agreements(
        self, browse, live_server, client, supervisor, app_holder, other_app_holder, tmp_path
    ):
        from tests.ecard.services.test_payments import Provider

        Provider(tmp_path).sign_up(app_holder)
        member = app_holder.card.holder
        invited = other_app_holder.post(
            "/api/v1/family", {"name": member.name, "id_number": member.id_number, "relationship": "parent"}
        )
        link = invited.json()["id"]
        assert (
            app_holder.post(f"/api/v1/family/invitations/{link}/accept", {"password": "802461"}).status_code
            == 200
        )

        page = desk(browse, client, supervisor, live_server).page
        card_page(page, live_server, app_holder.card)
        operate(page, "cancel")
        page.select_option("select[name=reason]", "deceased")
        page.fill("input[name=agent_name]", "张伟")
        page.select_option("select[name=agent_id_type]", "resident_id")
        page.fill("input[name=agent_id_number]", "11010519491231002X")
        page.fill("input[name=certificate_number]", DEATH_CERTIFICATE["certificate_number"])
        page.fill("input[name=certificate_issuer]", DEATH_CERTIFICATE["certificate_issuer"])
        confirm(page)
        assert Card.objects.get(pk=app_holder.card.pk).state == CardState.CANCELLED
        screenshot(page, "outlet-death.png", full_page=True)
        ecard = app_holder.get("/api/v1/ecard").json()
        assert {answer["verdict"] for answer in ecard["services"].values()} == {"denied"}
        assert PaymentAgreement.objects.get().end_reason == "card_cancelled"
        assert FamilyLink.objects.get().state == "ended"
        assert (
            other_app_holder.post(f"/api/v1/codes?member={link}", {"purpose": "identity"}).status_code == 404
        )

    def test_an_elderly_parent_is_added_at_the_counter_and_shown_by_the_presenter_at_a_pharmacy(
        self, browse, live_server, client, clerk, app_holder, make_card, make_holder, make_scanner
    ):
        elder = make_card(holder=make_holder(name="孙奶奶", born=datetime.date(1941, 4, 1)))
        page = desk(browse, client, clerk, live_server).page
        card_page(page, live_server, elder)
        operate(page, "family_enrol")
        page.select_option("select[name=presenter_id_type]", "resident_id")
        page.fill("input[name=presenter_id_number]", app_holder.card.holder.id_number)
        page.select_option("select[name=relationship]", "parent")
        page.fill("input[name=password]", "624813")
        page.fill("input[name=identity_token]", settings.IDENTITY_DEV_TOKEN)
        confirm(page)
        assert FamilyLink.objects.get(member=elder.holder).state == "active"

        phone = browse(**phone_context()).page
        sign_in(phone, live_server.url, app_holder.phone, PASSWORD)
        member = phone.locator("#member-list li[data-state=active]")
        member.wait_for()
        member.locator("button", has_text="出示二维码").click()
        phone.wait_for_selector("#showing-member", state="visible")
        phone.wait_for_function(MEMBER_DRAWN, arg=str(FamilyLink.objects.get(member=elder.holder).public_id))
        pharmacy = make_scanner(organisation="同仁堂药店", kind="medical", purposes=("payment",))
        verdict = pharmacy.verdict(decode(screenshot(phone.locator("#qr"), "outlet-family-elder-code.png")))
        assert verdict["result"] == "accepted" and verdict["holder"] == elder.holder.name_masked
