"""The app's journeys on the holder's H5 page, as a holder walks them in a real browser: lifting a
loss after a face check, a replacement applied for with a photo and followed to its pick-up
certificate, the PIN and the e-card password, and a family account between two phones.

Staff steps between (the card factory's progress) are the services' own calls; the page only
sees them after the holder taps 刷新, as a phone would.
"""

from __future__ import annotations

import pytest  # noqa: F401
from django.contrib.auth.hashers import check_password
from PIL import Image

from ecard import services
from ecard.audit import Actor
from ecard.models import CardApplication
from tests.browser.test_h5 import DRAWN, MEMBER_DRAWN, decode, phone_context, pytestmark, screenshot, sign_in  # noqa: F401
from tests.support import ECARD_PASSWORD, HOLDER_PIN, PASSWORD

OUTLET = "东城区社保卡服务网点"


def photo(tmp_path) -> str:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (358, 441), (230, 230, 240)).save(path, "JPEG")
    return str(path)


def face_check(page, *, passes: bool = True):
    """The development provider's face step: it passes when the holder starts it."""
    page.wait_for_selector("#face", state="visible")
    page.click("#face-start" if passes else "#face-cancel")
    page.wait_for_selector("#face", state="hidden")


def refusal(page, element: str) -> str:
    """The reason a screen shows for a refusal, once the answer has come."""
    page.wait_for_function(f"() => document.getElementById('{element}').textContent.length > 0")
    return page.locator(f"#{element}").inner_text()


def reload(page):
    page.click("#reload")


class TestLossAndReplacement:
    def test_a_holder_lifts_a_loss_after_a_face_check_then_replaces_the_card_and_opens_its_certificate(
        self, browse, live_server, app_holder, make_scanner, clerk, tmp_path
    ):
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, app_holder.phone, PASSWORD)
        page.wait_for_selector("#card-state[data-state=active]")
        assert page.locator("#loss-lift").is_hidden()

        page.click("#report-lost")
        page.click("#confirm-lost-yes")
        page.wait_for_selector("#card-state[data-state=temporarily_lost]")
        assert page.locator("#loss-report").is_hidden()

        # Not past the face check, nothing is lifted; the page says what is missing.
        page.click("#lift-loss")
        face_check(page, passes=False)
        assert refusal(page, "loss-error") == "需先通过人脸识别"
        assert page.locator("#card-state").get_attribute("data-state") == "temporarily_lost"

        page.click("#lift-loss")
        face_check(page)
        page.wait_for_selector("#card-state[data-state=active]")
        screenshot(page, "h5-loss-lifted.png", full_page=True)

        # Lost again for good: the replacement screen offers a loss replacement.
        page.click("#report-lost")
        page.click("#confirm-lost-yes")
        page.wait_for_selector("#card-state[data-state=temporarily_lost]")
        form = page.locator("#apply-form")
        assert form.locator("select[name=kind]").input_value() == "replacement_loss"
        form.locator("input[name=photo]").set_input_files(photo(tmp_path))
        form.locator("button[type=submit]").click()
        face_check(page)
        assert "网点" in refusal(page, "apply-error")  # no outlet named yet
        assert not CardApplication.objects.exists()

        form.locator("input[name=outlet]").fill(OUTLET)
        form.locator("button[type=submit]").click()
        face_check(page)
        page.wait_for_selector("#application-list li[data-state=submitted]")
        # Applying for a replacement makes the temporary loss formal.
        page.wait_for_selector("#card-state[data-state=lost]")
        application = CardApplication.objects.get()
        assert application.photo and application.outlet == OUTLET

        by = Actor.staff(clerk)
        for step in ("accepted", "in_production", "ready"):
            application = services.application_advance(application=application, to=step, by=by)
        reload(page)
        ready = page.locator("#application-list li[data-state=ready]")
        ready.wait_for()
        detail = page.locator(f"#application-list li[data-detail='{application.public_id}']").inner_text()
        assert OUTLET in detail and str(application.collect_by) in detail
        assert ready.locator("button", has_text="撤回").count() == 0  # too late to withdraw
        screenshot(page, "h5-application-ready.png", full_page=True)

        with page.expect_download() as download:
            ready.locator("button", has_text="领卡证明").click()
        pdf = download.value.path().read_bytes()
        assert pdf.startswith(b"%PDF")
        from tests.ecard.test_certificate import qr_of

        hospital = make_scanner(
            organisation="北京协和医院", kind="medical", purposes=("payment", "certificate")
        )
        verdict = hospital.verdict(qr_of(pdf, tmp_path))
        assert verdict["result"] == "accepted" and verdict["purpose"] == "certificate"

    def test_a_holder_withdraws_an_application_not_yet_in_production(self, browse, live_server, app_holder):
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, app_holder.phone, PASSWORD)
        form = page.locator("#apply-form")
        form.wait_for()
        form.locator("select[name=kind]").select_option("replacement_damage")
        form.locator("input[value=post]").check()
        form.locator("input[name=postal_address]").fill("北京市东城区某街道1号")
        form.locator("button[type=submit]").click()
        face_check(page)
        submitted = page.locator("#application-list li[data-state=submitted]")
        submitted.wait_for()
        submitted.locator("button", has_text="撤回").click()
        page.wait_for_selector("#application-list li[data-state=withdrawn]")
        assert CardApplication.objects.get().state == "withdrawn"


class TestSecrets:
    def test_a_wrong_old_pin_is_refused_with_the_reason_and_the_right_one_changes_it(
        self, browse, live_server, app_holder
    ):
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, app_holder.phone, PASSWORD)
        pin = page.locator("#pin-form")
        pin.wait_for()
        pin.locator("input[name=old]").fill("111111")
        pin.locator("input[name=new]").fill("582046")
        pin.locator("button[type=submit]").click()
        assert "密码" in refusal(page, "pin-error")

        pin.locator("input[name=old]").fill(HOLDER_PIN)
        pin.locator("input[name=new]").fill("582046")
        pin.locator("button[type=submit]").click()
        page.wait_for_selector("#secrets-done:has-text('社保卡密码已修改')")
        assert pin.locator("input[name=old]").input_value() == ""  # no secret left in the form

        password = page.locator("#password-form")
        password.locator("input[name=old]").fill(ECARD_PASSWORD)
        password.locator("input[name=new]").fill("913572")
        password.locator("button[type=submit]").click()
        page.wait_for_selector("#secrets-done:has-text('电子社保卡密码已修改')")
        app_holder.card.refresh_from_db()
        assert check_password("582046", app_holder.card.pin_hash)


class TestFamily:
    def test_an_invitation_accepted_on_a_second_phone_lets_the_presenter_show_a_code_a_pharmacy_accepts(
        self, browse, live_server, app_holder, other_app_holder, make_scanner
    ):
        presenter = browse(**phone_context()).page
        member = browse(**phone_context()).page
        sign_in(presenter, live_server.url, app_holder.phone, PASSWORD)
        invite = presenter.locator("#invite-form")
        invite.wait_for()
        relative = other_app_holder.card.holder
        invite.locator("input[name=name]").fill(relative.name)
        invite.locator("input[name=id_number]").fill(relative.id_number)
        invite.locator("select[name=relationship]").select_option("parent")
        invite.locator("button[type=submit]").click()
        presenter.wait_for_selector("#member-list li[data-state=invited]")

        sign_in(member, live_server.url, other_app_holder.phone, PASSWORD)
        member.wait_for_selector("#accept-form", state="visible")
        assert app_holder.card.holder.name_masked in member.locator("#accept-asked").inner_text()
        member.fill("#accept-form input[name=password]", "000000")
        member.click("#accept-form button[type=submit]")
        assert "密码" in refusal(member, "accept-error")
        member.fill("#accept-form input[name=password]", ECARD_PASSWORD)
        member.click("#accept-form button[type=submit]")
        member.wait_for_selector("#presenter-list li[data-id]")
        screenshot(member, "h5-family-member.png", full_page=True)

        reload(presenter)
        active = presenter.locator("#member-list li[data-state=active]")
        active.wait_for()
        link = active.get_attribute("data-id")
        active.locator("button", has_text="出示二维码").click()
        presenter.wait_for_selector("#showing-member", state="visible")
        presenter.wait_for_function(MEMBER_DRAWN, arg=link)
        assert presenter.locator("[role=tab][data-purpose=transit]").is_disabled()
        pharmacy = make_scanner(organisation="同仁堂药店", kind="medical", purposes=("payment",))
        verdict = pharmacy.verdict(decode(screenshot(presenter.locator("#qr"), "h5-family-code.png")))
        assert verdict["result"] == "accepted"
        assert verdict["holder"] == relative.name_masked
        assert verdict["presented_by"] == app_holder.card.holder.name_masked

        # The member ends it on their own phone: the presenter's next code is refused.
        member.locator("#presenter-list li[data-id] button", has_text="解除").click()
        member.wait_for_selector("#presenter-list li[data-id]", state="detached")
        reload(presenter)
        presenter.wait_for_selector("#member-list li[data-state=active]", state="detached")
        presenter.wait_for_selector("#showing-member", state="hidden")


class TestSignUp:
    def test_a_person_registers_on_the_page_and_binds_their_card_with_the_sms_code_and_a_face_check(
        self, browse, live_server, make_card, scanner
    ):
        from tests.support import sms_code

        card = make_card()
        page = browse(**phone_context()).page
        page.goto(live_server.url + "/")
        page.click("#to-register")
        page.fill("#register-form input[name=phone]", "13800000077")
        page.fill("#register-form input[name=password]", "short")
        page.click("#register-form button[type=submit]")
        assert refusal(page, "register-error")  # the password rules, in words
        page.fill("#register-form input[name=password]", PASSWORD)
        page.click("#register-form button[type=submit]")
        page.wait_for_selector("#bind", state="visible")

        bind = page.locator("#bind-form")
        bind.locator("input[name=name]").fill("王某某")
        bind.locator("input[name=id_number]").fill(card.holder.id_number)
        bind.locator("input[name=card_number]").fill(card.number)
        page.click("#bind-send")
        assert refusal(page, "bind-error")  # printed details that do not match: no code sent
        bind.locator("input[name=name]").fill(card.holder.name)
        page.click("#bind-send")
        page.wait_for_selector("#bind-confirm", state="visible")
        assert card.holder.phone[-4:] in page.locator("#bind-sent").inner_text()
        bind.locator("input[name=sms_code]").fill(sms_code(card.holder.phone))
        bind.locator("input[name=password]").fill(ECARD_PASSWORD)
        bind.locator("button[type=submit]").click()
        face_check(page)
        page.wait_for_selector("#card-state[data-state=active]")
        assert page.locator("#bind").is_hidden()
        page.wait_for_function(DRAWN)
        assert scanner.verdict(decode(page.locator("#qr").screenshot()))["result"] == "accepted"


class TestTransitAndOffline:
    def test_a_holder_ends_a_live_agreement_and_transit_closes_on_the_page(
        self, browse, live_server, app_holder, tmp_path
    ):
        from tests.ecard.services.test_payments import Provider

        Provider(tmp_path).sign_up(app_holder)
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, app_holder.phone, PASSWORD)
        live = page.locator("#agreement-list li[data-state=live]")
        live.wait_for()
        assert (
            page.locator("#service-list li[data-purpose=transit]").get_attribute("data-verdict") == "allowed"
        )
        live.locator("button", has_text="解除").click()
        page.wait_for_selector("#agreement-list li[data-state=live]", state="detached")
        page.wait_for_selector("#service-list li[data-purpose=transit][data-verdict=denied]")
        assert page.locator("[role=tab][data-purpose=transit]").is_disabled()

    def test_the_holder_switches_to_codes_the_phone_signs_and_a_gate_with_no_network_accepts_them(
        self, browse, live_server, app_holder, scanner
    ):
        from tests.codes.test_verifier import offline_gate

        gate, _ = offline_gate(scanner)
        page = browse(**phone_context()).page
        sign_in(page, live_server.url, app_holder.phone, PASSWORD)
        page.wait_for_selector("#qr[data-kind=server]")
        page.wait_for_selector("#offline", state="visible")  # the phone holds a certificate now
        page.click("[role=tab][data-purpose=identity]")
        page.wait_for_selector("#qr[data-kind=server]")
        page.check("#offline-switch")
        page.wait_for_selector("#qr[data-kind=device]")
        page.wait_for_function(DRAWN)
        result = gate.verify(decode(page.locator("#qr").screenshot()), purposes=["identity"])
        assert result.accepted and result.parsed.certificate is not None
        page.uncheck("#offline-switch")
        page.wait_for_selector("#qr[data-kind=server]")
