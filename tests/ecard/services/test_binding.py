"""Identity proofing: binding an e-card and lifting a loss take proofs a found card does not give.

The card's printed data (name, ID number, card number) and its PIN only name the card. Binding
takes a one-time code sent by SMS to the phone the card centre holds, and a real-person check
through the provider (IDENTITY_VERIFIER); lifting a loss in the app takes a fresh real-person
check, because the phone may be lost with the card.
"""

import datetime
import logging
import re

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.realperson import NOT_VERIFIED, UNAVAILABLE, VERIFIED, IdentityCheck
from ecard import notices, services
from ecard.models import AuditEvent, BindingChallenge, Card, ECard, HolderAuthorisation, Notice
from tests.support import ECARD_PASSWORD, PASSWORD, Holder_, bind, sms_code, years_ago

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


class SignedIn(Holder_):
    """Signed in, with no e-card yet."""

    def __init__(self, phone):
        from tests.support import register_and_sign_in

        self.api = APIClient()
        self.tokens = register_and_sign_in(self.api, phone)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}


def named(card, **override):
    return {
        "name": card.holder.name,
        "id_number": card.holder.id_number,
        "card_number": card.number,
        **override,
    }


def challenge(account, card) -> dict:
    response = account.post("/api/v1/ecard/apply/challenge", named(card))
    assert response.status_code == 201, response.json()
    return response.json()


def apply(account, card, challenge_id, code, token=None, **override):
    body = {
        **named(card),
        "challenge_id": challenge_id,
        "sms_code": code,
        "identity_token": token or settings.IDENTITY_DEV_TOKEN,
        "password": "730519",
        **override,
    }
    return account.post("/api/v1/ecard/apply", body)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


class DownProvider:
    def verify(self, *, name, id_number, token):
        return IdentityCheck(UNAVAILABLE)


class BrokenProvider:
    def verify(self, *, name, id_number, token):
        raise ConnectionError("provider timed out")


class StaleProvider:
    """Verified, but the face was matched ten minutes ago."""

    def verify(self, *, name, id_number, token):
        return IdentityCheck(VERIFIED, timezone.now() - datetime.timedelta(minutes=10))


class StrictProvider:
    """Verifies only the person whose ID number the token names: faces are not transferable."""

    def verify(self, *, name, id_number, token):
        return (
            IdentityCheck(VERIFIED, timezone.now())
            if token == f"face:{id_number}"
            else IdentityCheck(NOT_VERIFIED)
        )


def nothing_changed_for(victim, stranger):
    assert victim.get("/api/v1/ecard").status_code == 200, "the victim's session keeps working"
    assert Card.objects.get(pk=victim.card.pk).state == "temporarily_lost"
    assert not HolderAuthorisation.objects.exists()
    assert stranger.get("/api/v1/ecard").status_code == 404
    assert stranger.post("/api/v1/codes", {"purpose": "payment"}).status_code == 404
    assert not AuditEvent.objects.filter(
        action="account.bound", data__account=stranger_user_pk(stranger)
    ).exists()


def stranger_user_pk(account):
    import jwt

    return int(jwt.decode(account.tokens["access"], options={"verify_signature": False})["sub"])


class TestTheFoundCardStory:
    def test_a_stranger_with_the_card_and_its_initial_pin_cannot_take_over_the_e_card(self, app_holder):
        victim = app_holder
        assert victim.post("/api/v1/card/loss-report").json()["card"]["state"] == "temporarily_lost"
        stranger = SignedIn("13900009999")
        card = victim.card

        # The old way in: everything printed on the card, and the initial PIN.
        old_way = stranger.post("/api/v1/ecard/apply", {**named(card), "pin": "123456", "password": "730519"})
        assert 400 <= old_way.status_code < 500
        # The same without the PIN: no proofs, no binding.
        no_proofs = stranger.post("/api/v1/ecard/apply", {**named(card), "password": "730519"})
        assert no_proofs.status_code == 403 and no_proofs.json()["code"] == "identity.verification_required"
        nothing_changed_for(victim, stranger)

        # He asks for a code: it goes to the victim's phone on file, never to his.
        sent = challenge(stranger, card)
        assert sent["phone_masked"] == card.holder.phone_masked
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", sent["phone_masked"])
        assert {m["phone"] for m in notices.outbox if "phone" in m} == {card.holder.phone}
        guessed = apply(stranger, card, sent["challenge_id"], "000000")
        assert guessed.status_code == 403 and guessed.json()["code"] == "identity.code_invalid"
        # Even with the code (say he holds the victim's phone too), his face is not hers.
        stolen = apply(
            stranger, card, sent["challenge_id"], sms_code(card.holder.phone), token="his-own-face"
        )
        assert stolen.status_code == 403 and stolen.json()["code"] == "identity.not_verified"
        # Nor can he lift the loss or grant himself anything.
        assert stranger.post("/api/v1/card/loss-lift").status_code == 404
        assert (
            stranger.post(
                "/api/v1/ecard/authorisations",
                {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
            ).status_code
            == 404
        )
        nothing_changed_for(victim, stranger)

    def test_the_real_holder_binds_a_new_phone_during_a_loss_and_lifts_it(
        self, app_holder, django_capture_on_commit_callbacks
    ):
        old_phone = app_holder
        old_phone.post("/api/v1/card/loss-report")
        new_phone = SignedIn("13900008888")
        with django_capture_on_commit_callbacks(execute=True):
            response = bind(new_phone, old_phone.card, password="730519")
        assert response.status_code == 200 and response.json()["card"]["state"] == "temporarily_lost"
        assert old_phone.get("/api/v1/ecard").json()["code"] == "auth.token_revoked"

        # The old account is told at once, in its own inbox, and the channels (SMS) got it.
        again = APIClient()
        tokens = again.post(
            "/api/v1/auth/token", {"phone": "13800000001", "password": PASSWORD}, format="json"
        )
        inbox = again.get("/api/v1/notices", HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}").json()
        assert [n["kind"] for n in inbox["results"]] == ["ecard.rebound"]
        rebound = Notice.objects.get(kind="ecard.rebound")
        assert rebound.delivered_at is not None
        assert any(m.get("notice") == rebound.public_id for m in notices.outbox)
        # ... and the new account does not see the old one's notice.
        assert "ecard.rebound" not in [n["kind"] for n in new_phone.get("/api/v1/notices").json()["results"]]

        lifted = new_phone.post("/api/v1/card/loss-lift", {"identity_token": settings.IDENTITY_DEV_TOKEN})
        assert lifted.status_code == 200 and lifted.json()["card"]["state"] == "active"


class TestBindingRefusals:
    def test_the_endpoints_exist_and_bind_with_both_proofs(self, card):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        response = apply(account, card, sent["challenge_id"], sms_code(card.holder.phone))
        assert response.status_code == 201
        assert ECard.objects.filter(card=card).exists()

    @pytest.mark.parametrize("missing", ["challenge_id", "sms_code", "identity_token"])
    def test_each_missing_proof_is_refused_and_nothing_changes(self, card, missing):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        body = {
            **named(card),
            "challenge_id": sent["challenge_id"],
            "sms_code": sms_code(card.holder.phone),
            "identity_token": settings.IDENTITY_DEV_TOKEN,
            "password": "730519",
        }
        del body[missing]
        response = account.post("/api/v1/ecard/apply", body)
        assert response.status_code == 403 and response.json()["code"] == "identity.verification_required"
        assert not ECard.objects.filter(card=card).exists()

    def test_an_expired_code_is_refused(self, card):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        code = sms_code(card.holder.phone)
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5, seconds=1)):
            response = apply(account, card, sent["challenge_id"], code)
        assert response.status_code == 403 and response.json()["code"] == "identity.code_expired"
        assert not ECard.objects.filter(card=card).exists()

    def test_after_five_wrong_tries_even_the_right_code_is_refused(self, card):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        code = sms_code(card.holder.phone)
        for _ in range(5):
            assert (
                apply(account, card, sent["challenge_id"], wrong(code)).json()["code"]
                == "identity.code_invalid"
            )
        sixth = apply(account, card, sent["challenge_id"], code)
        assert sixth.status_code == 403 and sixth.json()["code"] == "identity.code_expired"
        assert BindingChallenge.objects.get(public_id=sent["challenge_id"]).attempts == 5
        assert not ECard.objects.filter(card=card).exists()

    def test_a_code_works_once(self, card):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        code = sms_code(card.holder.phone)
        assert apply(account, card, sent["challenge_id"], code).status_code == 201
        again = apply(account, card, sent["challenge_id"], code, password="820357")
        assert again.status_code == 403 and again.json()["code"] == "identity.code_expired"

    def test_another_accounts_challenge_is_no_use(self, card):
        asker, other = SignedIn("13900007777"), SignedIn("13900006666")
        sent = challenge(asker, card)
        response = apply(other, card, sent["challenge_id"], sms_code(card.holder.phone))
        assert response.status_code == 403 and response.json()["code"] == "identity.code_invalid"

    def test_a_refused_real_person_token_is_403_and_the_code_stays_usable(self, card):
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        code = sms_code(card.holder.phone)
        refused = apply(account, card, sent["challenge_id"], code, token="not-my-face")
        assert refused.status_code == 403 and refused.json()["code"] == "identity.not_verified"
        assert not ECard.objects.filter(card=card).exists()
        assert apply(account, card, sent["challenge_id"], code).status_code == 201

    @pytest.mark.parametrize("provider", ["DownProvider", "BrokenProvider"])
    def test_a_provider_that_is_down_is_503_never_a_pass(self, card, settings, provider):
        settings.IDENTITY_VERIFIER = f"tests.ecard.services.test_binding.{provider}"
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        response = apply(account, card, sent["challenge_id"], sms_code(card.holder.phone))
        assert response.status_code == 503 and response.json()["code"] == "identity.unavailable"
        assert not ECard.objects.filter(card=card).exists()

    def test_a_real_person_check_older_than_five_minutes_is_not_enough(self, card, settings):
        settings.IDENTITY_VERIFIER = "tests.ecard.services.test_binding.StaleProvider"
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        response = apply(account, card, sent["challenge_id"], sms_code(card.holder.phone))
        assert response.status_code == 403 and response.json()["code"] == "identity.not_verified"

    def test_a_card_with_no_phone_on_file_is_bound_at_an_outlet(self, make_card, make_holder):
        card = make_card(holder=make_holder(phone=""))
        account = SignedIn("13900007777")
        response = account.post("/api/v1/ecard/apply/challenge", named(card))
        assert response.status_code == 409 and response.json()["code"] == "identity.no_phone_on_file"
        assert "服务网点" in response.json()["message"] and "outlet" in response.json()["message_en"]
        assert not [m for m in notices.outbox if "phone" in m]

    def test_at_most_five_codes_a_day_per_holder(self, card):
        shanghai = timezone.get_current_timezone()
        with time_machine.travel(datetime.datetime(2026, 11, 20, 10, 0, tzinfo=shanghai)):
            accounts = [SignedIn(f"1390000{n:04d}") for n in range(2)]
            for n in range(5):
                challenge(accounts[n % 2], card)
            sixth = accounts[0].post("/api/v1/ecard/apply/challenge", named(card))
            assert sixth.status_code == 429 and sixth.json()["code"] == "identity.challenge_limit"
        with time_machine.travel(datetime.datetime(2026, 11, 21, 0, 1, tzinfo=shanghai)):
            next_day = SignedIn("13900005555")
            assert next_day.post("/api/v1/ecard/apply/challenge", named(card)).status_code == 201

    def test_a_guardians_face_binds_a_wards_e_card(
        self, app_holder, make_holder, make_card, settings, system
    ):
        from accounts.services import holder_set_guardian

        settings.IDENTITY_VERIFIER = "tests.ecard.services.test_binding.StrictProvider"
        child = make_holder(name="张小雨", born=years_ago(9))
        holder_set_guardian(
            holder=child, guardian=app_holder.card.holder, proof="birth_certificate", by=system
        )
        card = make_card(holder=child)
        sent = challenge(app_holder, card)
        code = sms_code(child.phone)
        childs_face = apply(app_holder, card, sent["challenge_id"], code, token=f"face:{child.id_number}")
        assert childs_face.json()["code"] == "identity.not_verified"
        guardian = app_holder.card.holder
        assert (
            apply(
                app_holder, card, sent["challenge_id"], code, token=f"face:{guardian.id_number}"
            ).status_code
            == 201
        )


class TestLiftingALossInTheApp:
    def test_lifting_needs_a_real_person_check(self, app_holder):
        app_holder.post("/api/v1/card/loss-report")
        missing = app_holder.post("/api/v1/card/loss-lift")
        assert missing.status_code == 403 and missing.json()["code"] == "identity.verification_required"
        refused = app_holder.post("/api/v1/card/loss-lift", {"identity_token": "not-my-face"})
        assert refused.status_code == 403 and refused.json()["code"] == "identity.not_verified"
        assert Card.objects.get(pk=app_holder.card.pk).state == "temporarily_lost"
        lifted = app_holder.post("/api/v1/card/loss-lift", {"identity_token": settings.IDENTITY_DEV_TOKEN})
        assert lifted.status_code == 200 and lifted.json()["card"]["state"] == "active"

    def test_a_stale_check_does_not_lift(self, app_holder, settings):
        app_holder.post("/api/v1/card/loss-report")
        settings.IDENTITY_VERIFIER = "tests.ecard.services.test_binding.StaleProvider"
        response = app_holder.post("/api/v1/card/loss-lift", {"identity_token": "anything"})
        assert response.status_code == 403 and response.json()["code"] == "identity.not_verified"
        assert Card.objects.get(pk=app_holder.card.pk).state == "temporarily_lost"

    def test_with_the_provider_down_the_loss_stays(self, app_holder, settings):
        app_holder.post("/api/v1/card/loss-report")
        settings.IDENTITY_VERIFIER = "tests.ecard.services.test_binding.DownProvider"
        response = app_holder.post("/api/v1/card/loss-lift", {"identity_token": settings.IDENTITY_DEV_TOKEN})
        assert response.status_code == 503 and response.json()["code"] == "identity.unavailable"
        assert Card.objects.get(pk=app_holder.card.pk).state == "temporarily_lost"

    def test_staff_at_an_outlet_lift_without_one(self, card, clerk):
        from ecard.audit import Actor

        services.card_report_temporary_loss(card=card, by=Actor.staff(clerk))
        assert services.card_lift_loss(card=card, by=Actor.staff(clerk)).state == "active"


class TestTheCodeStaysSecret:
    def test_the_code_is_stored_hashed_logged_nowhere_and_never_an_in_app_notice(self, card, caplog):
        caplog.set_level(logging.DEBUG)
        account = SignedIn("13900007777")
        sent = challenge(account, card)
        code = sms_code(card.holder.phone)
        apply(account, card, sent["challenge_id"], code)
        row = BindingChallenge.objects.get(public_id=sent["challenge_id"])
        assert code not in row.code_hash and len(row.code_hash) == 64
        assert not [r for r in caplog.records if code in r.getMessage()]
        assert not Notice.objects.filter(body__contains=code).exists()
        assert card.holder.phone not in caplog.text, "the phone is masked in logs"

    def test_the_console_channel_shows_the_sms_in_development(self, card, settings, capsys):
        settings.NOTICE_CHANNELS = ["ecard.notices.LoggingChannel", "ecard.notices.ConsoleChannel"]
        challenge(SignedIn("13900007777"), card)
        printed = capsys.readouterr().out
        assert re.search(rf"\[sms to {card.holder.phone}\] 【电子社保卡】验证码\d{{6}}", printed)
        assert "http" not in printed and "12333" in printed


def test_the_schema_documents_both_steps_and_the_development_token(client):
    document = client.get("/api/schema/?format=json").json()
    assert {"/api/v1/ecard/apply/challenge", "/api/v1/ecard/apply"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    token_fields = [
        s["properties"]["identity_token"]
        for s in schemas.values()
        if "identity_token" in s.get("properties", {})
    ]
    assert len(token_fields) >= 2  # binding and lifting a loss, among others
    assert all(field["example"] == settings.IDENTITY_DEV_TOKEN for field in token_fields)
    assert "pin" not in schemas["ECardApplyInRequest"]["properties"]
