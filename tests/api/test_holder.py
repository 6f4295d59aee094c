"""Holder endpoints: who reaches what, the error shape, idempotency, apply, authorisations."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from accounts.services import holder_set_guardian
from ecard import notices, services
from ecard.models import AuditEvent, Card, ECard, HolderAuthorisation, Notice
from tests.support import ECARD_PASSWORD, Holder_, bind, register_and_sign_in, years_ago

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def named(card, **override):
    """The card's printed data: names the card, proves nothing."""
    return {
        "name": card.holder.name,
        "id_number": card.holder.id_number,
        "card_number": card.number,
        **override,
    }


class SignedIn(Holder_):
    """Signed in, without an e-card yet."""

    def __init__(self, api, phone):
        self.api = api
        self.tokens = register_and_sign_in(api, phone)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}


class TestIsolation:
    def test_another_holders_authorisation_is_not_found(self, app_holder, other_app_holder, system):
        services.card_report_temporary_loss(card=other_app_holder.card, by=system)
        grant = other_app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        ).json()
        response = app_holder.delete(f"/api/v1/ecard/authorisations/{grant['id']}")
        assert response.status_code == 404 and response.json()["code"] == "authorisation.not_found"
        assert HolderAuthorisation.objects.get(public_id=grant["id"]).ended_at is None

    def test_another_holders_notice_is_not_found(self, app_holder, other_app_holder):
        notice = Notice.objects.create(
            holder=other_app_holder.card.holder, kind="x", subject="1", title="t", body="b"
        )
        response = app_holder.post(f"/api/v1/notices/{notice.public_id}/read")
        assert response.status_code == 404
        assert Notice.objects.get(pk=notice.pk).read_at is None
        assert app_holder.get("/api/v1/notices").json()["count"] == 0

    @pytest.mark.parametrize(
        ("method", "url"),
        [
            ("get", "/api/v1/ecard"),
            ("get", "/api/v1/ecard/authorisations"),
            ("get", "/api/v1/notices"),
            ("post", "/api/v1/card/loss-report"),
            ("post", "/api/v1/card/loss-lift"),
            ("post", "/api/v1/card/enable"),
            ("post", "/api/v1/card/renewal"),
        ],
    )
    def test_another_holder_is_not_reachable_as_a_ward(self, app_holder, other_app_holder, method, url):
        ward = other_app_holder.card.holder.public_id
        response = getattr(app_holder, method)(f"{url}?ward={ward}")
        assert response.status_code == 404
        assert Card.objects.get(pk=other_app_holder.card.pk).state == "active"

    def test_an_unbound_account_has_no_card_to_act_on(self, api):
        account = SignedIn(api, "13800007777")
        for url in ("/api/v1/card/loss-report", "/api/v1/card/enable"):
            assert account.post(url).status_code == 404

    def test_a_guardian_acts_for_a_ward(self, app_holder, make_holder, make_card, system):
        child = make_holder(name="张小雨", born=years_ago(9))
        holder_set_guardian(
            holder=child, guardian=app_holder.card.holder, proof="birth_certificate", by=system
        )
        card = make_card(holder=child)
        wards = app_holder.get("/api/v1/wards").json()
        assert [w["id"] for w in wards] == [str(child.public_id)] and wards[0]["name_masked"] == "张*雨"
        response = bind(app_holder, card, ward=child.public_id)
        assert response.status_code == 201
        body = app_holder.get(f"/api/v1/ecard?ward={child.public_id}").json()
        assert body["card"]["number_masked"] == card.number_masked
        # The guardian's own card is untouched; the account stays the guardian's.
        assert (
            app_holder.get("/api/v1/ecard").json()["card"]["number_masked"] == app_holder.card.number_masked
        )
        app_holder.post(f"/api/v1/card/loss-report?ward={child.public_id}")
        assert Card.objects.get(pk=card.pk).state == "temporarily_lost"

    def test_a_minors_card_cannot_be_applied_for_by_a_stranger(self, api, make_holder, make_card):
        child = make_holder(name="张小雨", born=years_ago(9))
        card = make_card(holder=child)
        response = SignedIn(api, "13800007777").post("/api/v1/ecard/apply/challenge", named(card))
        assert response.status_code == 400 and response.json()["code"] == "holder.guardian_required"
        assert not ECard.objects.filter(card=card).exists()


class TestErrorShape:
    def test_malformed_json_is_400(self, app_holder):
        response = app_holder.api.post(
            "/api/v1/card/pin", data="{not json", content_type="application/json", **app_holder.auth
        )
        assert response.status_code == 400
        assert (
            set(response.json()) == {"code", "message", "message_en"}
            and response.json()["code"] == "request.malformed"
        )

    def test_a_wrong_type_names_the_field(self, app_holder):
        response = app_holder.post(
            "/api/v1/ecard/authorisations", {"password": "1", "purposes": "payment", "minutes": "x"}
        )
        assert response.status_code == 400 and response.json()["code"] == "request.invalid"
        assert response.json()["field"] in ("purposes", "minutes")

    def test_an_unknown_field_is_refused(self, app_holder):
        response = app_holder.post(
            "/api/v1/card/pin", {"old_pin": "123456", "new_pin": "802461", "pin2": "x"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "request.unknown_field" and response.json()["field"] == "pin2"

    def test_a_body_on_a_no_body_operation_is_refused(self, app_holder):
        response = app_holder.post("/api/v1/card/loss-report", {"reason": "lost"})
        assert response.json()["code"] == "request.unknown_field"
        assert Card.objects.get(pk=app_holder.card.pk).state == "active"

    def test_an_oversized_body_is_413(self, app_holder):
        response = app_holder.post("/api/v1/card/pin", {"old_pin": "1" * 20000, "new_pin": "802461"})
        assert response.status_code == 413 and response.json()["code"] == "request.too_large"

    def test_a_form_body_is_415(self, app_holder):
        response = app_holder.api.post("/api/v1/card/pin", {"old_pin": "123456"}, **app_holder.auth)
        assert response.status_code == 415 and response.json()["code"] == "request.unsupported_media_type"

    def test_a_non_object_body_is_400(self, app_holder):
        response = app_holder.post("/api/v1/card/pin", ["old_pin"])
        assert response.status_code == 400 and response.json()["code"] == "request.invalid"

    def test_an_unknown_api_path_is_a_json_404(self, app_holder):
        response = app_holder.get("/api/v1/nothing-here")
        assert response.status_code == 404 and response.json()["code"] == "request.not_found"

    def test_a_wrong_method_is_405(self, app_holder):
        response = app_holder.get("/api/v1/card/loss-report")
        assert response.status_code == 405 and response.json()["code"] == "request.method_not_allowed"

    def test_domain_codes_pass_through_unchanged(self, app_holder, system):
        services.card_report_formal_loss(card=app_holder.card, by=system)
        response = app_holder.post("/api/v1/card/loss-lift")
        assert response.status_code == 409
        body = response.json()
        assert (
            body["code"] == "card.loss_irrevocable"
            and "撤销" in body["message"]
            and "undone" in body["message_en"]
        )


class TestIdempotency:
    def test_a_retried_write_returns_the_first_response_and_writes_once(self, app_holder):
        first = app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="k-1")
        second = app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="k-1")
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() and second["Idempotent-Replayed"] == "true"
        assert AuditEvent.objects.filter(card=app_holder.card, action="card.loss_reported").count() == 1

    def test_without_a_key_a_retry_is_a_second_request(self, app_holder):
        app_holder.post("/api/v1/card/loss-report")
        assert app_holder.post("/api/v1/card/loss-report").json()["code"] == "card.already_temporarily_lost"

    def test_a_refusal_is_replayed_too(self, app_holder):
        first = app_holder.post(
            "/api/v1/card/pin", {"old_pin": "000000", "new_pin": "802461"}, HTTP_IDEMPOTENCY_KEY="p"
        )
        second = app_holder.post(
            "/api/v1/card/pin", {"old_pin": "000000", "new_pin": "802461"}, HTTP_IDEMPOTENCY_KEY="p"
        )
        assert first.status_code == second.status_code == 403 and first.json() == second.json()
        assert Card.objects.get(pk=app_holder.card.pk).pin_failures == 1

    def test_the_same_key_with_another_body_is_refused(self, app_holder):
        app_holder.post(
            "/api/v1/card/pin", {"old_pin": "123456", "new_pin": "802461"}, HTTP_IDEMPOTENCY_KEY="p"
        )
        response = app_holder.post(
            "/api/v1/card/pin", {"old_pin": "802461", "new_pin": "730519"}, HTTP_IDEMPOTENCY_KEY="p"
        )
        assert response.status_code == 422 and response.json()["code"] == "idempotency.key_reused"

    def test_keys_belong_to_one_account(self, app_holder, other_app_holder):
        app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="same")
        other_app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="same")
        assert Card.objects.get(pk=other_app_holder.card.pk).state == "temporarily_lost"


class TestApply:
    def test_a_wrong_name_reveals_nothing_and_sends_nothing(self, api, card):
        account = SignedIn(api, "13800007777")
        response = account.post("/api/v1/ecard/apply/challenge", named(card, name="王五"))
        assert response.status_code == 403 and response.json()["code"] == "ecard.identity_mismatch"
        unknown = account.post("/api/v1/ecard/apply/challenge", named(card, card_number="Z00000000"))
        assert unknown.json()["code"] == "ecard.identity_mismatch"
        assert not [m for m in notices.outbox if m.get("phone")]

    def test_an_unreceived_card_gets_no_e_card(self, api, make_card):
        card = make_card("sealed", received=False)
        response = bind(SignedIn(api, "13800007777"), card)
        assert response.status_code == 409 and response.json()["code"] == "card.not_received"

    def test_an_account_bound_to_one_holder_cannot_take_another(self, app_holder, other_app_holder):
        response = app_holder.post("/api/v1/ecard/apply/challenge", named(other_app_holder.card))
        assert response.status_code == 409 and response.json()["code"] == "account.already_bound"

    def test_applying_again_from_a_new_account_moves_the_binding_and_resets_the_password(
        self, app_holder, api
    ):
        from rest_framework.test import APIClient

        new_phone = SignedIn(APIClient(), "13800008888")
        response = bind(new_phone, app_holder.card, password="730519")
        assert response.status_code == 200
        assert app_holder.get("/api/v1/ecard").json()["code"] == "auth.token_revoked"
        assert new_phone.get("/api/v1/ecard").status_code == 200


class TestPasswordAndAuthorisations:
    def test_a_password_change_ends_other_sessions_and_grants_but_not_this_one(self, app_holder, system):
        from rest_framework.test import APIClient

        second = APIClient()
        tokens = second.post(
            "/api/v1/auth/token",
            {"phone": "13800000001", "password": "s3cure-Passw0rd"},
            format="json",
        ).json()
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        )
        response = app_holder.post(
            "/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"}
        )
        assert response.status_code == 204
        assert app_holder.get("/api/v1/ecard").status_code == 200
        assert second.get("/api/v1/ecard", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}").status_code == 401
        assert not HolderAuthorisation.objects.get().is_live()

    def test_a_wrong_old_password_changes_nothing(self, app_holder):
        response = app_holder.post(
            "/api/v1/ecard/password", {"old_password": "111222", "new_password": "730519"}
        )
        assert response.status_code == 403 and response.json()["field"] == "old_password"

    def test_no_authorisation_is_needed_for_an_active_card(self, app_holder):
        response = app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        )
        assert response.status_code == 409 and response.json()["code"] == "authorisation.not_needed"

    def test_the_duration_is_capped_by_the_setting(self, app_holder, system, settings):
        settings.AUTHORISATION_MAX_MINUTES = 60
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        response = app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 61},
        )
        assert response.status_code == 400 and response.json()["code"] == "authorisation.duration_invalid"

    def test_an_authorisation_ends_by_itself_when_the_card_state_changes(self, app_holder, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        grant = app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment", "culture"], "minutes": 60},
        ).json()
        services.card_report_formal_loss(card=app_holder.card, by=system)
        listed = app_holder.get("/api/v1/ecard/authorisations").json()[0]
        assert listed["id"] == grant["id"] and not listed["live"] and listed["end_reason"] == "state_changed"

    def test_an_authorisation_expires(self, app_holder, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        )
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=6)):
            assert not app_holder.get("/api/v1/ecard/authorisations").json()[0]["live"]

    def test_a_withdrawn_authorisation_cannot_be_withdrawn_again(self, app_holder, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        grant = app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        ).json()
        app_holder.delete(f"/api/v1/ecard/authorisations/{grant['id']}")
        response = app_holder.delete(f"/api/v1/ecard/authorisations/{grant['id']}")
        assert response.status_code == 409 and response.json()["code"] == "authorisation.ended"

    def test_renewal_inside_the_window_shows_the_new_card(self, db, api, make_card):
        today = timezone.localdate()
        card = make_card(valid_until=today + datetime.timedelta(days=30))
        holder = Holder_(api, card, "13800006666")
        assert holder.get("/api/v1/ecard").json()["card"]["renewal_open"]
        response = holder.post("/api/v1/card/renewal")
        assert response.status_code == 201
        replacement = response.json()["card"]["replacement"]
        assert (
            replacement["kind"] == "renewal" and replacement["state"] == "sealed" and replacement["ready_on"]
        )

    def test_renewal_outside_the_window_is_refused(self, app_holder):
        response = app_holder.post("/api/v1/card/renewal")
        assert response.status_code == 409 and response.json()["code"] == "card.renewal_not_open"


class TestNotices:
    def test_notices_are_newest_first_and_paginated(self, app_holder):
        holder = app_holder.card.holder
        for i in range(25):
            Notice.objects.create(
                holder=holder,
                kind="k",
                subject=str(i),
                title=f"n{i}",
                body="b",
                created_at=timezone.now() + datetime.timedelta(seconds=i),
            )
        page = app_holder.get("/api/v1/notices").json()
        assert page["count"] == 25 and len(page["results"]) == 20 and page["results"][0]["title"] == "n24"
        assert len(app_holder.get("/api/v1/notices?page=2").json()["results"]) == 5

    def test_a_bad_notice_id_is_404(self, app_holder):
        assert app_holder.post("/api/v1/notices/not-a-uuid/read").status_code == 404


class TestRefusedServicesSayWhy:
    def test_each_refused_service_carries_its_reason_in_the_holders_language_and_in_english(
        self, app_holder, system
    ):
        services_out = app_holder.get("/api/v1/ecard").json()["services"]
        transit = services_out["transit"]  # no payment agreement yet
        assert transit["verdict"] == "denied" and transit["code"] == "transit.no_payment_method"
        assert transit["message"] == "乘车码需先绑定支付方式。"
        assert transit["message_en"] and transit["message_en"] != transit["message"]
        assert services_out["identity"] == {
            "verdict": "allowed",
            "code": None,
            "message": None,
            "message_en": None,
        }
        english = app_holder.get("/api/v1/ecard", HTTP_ACCEPT_LANGUAGE="en").json()["services"]
        assert english["transit"]["message"] == transit["message_en"]

    def test_a_pin_locked_card_tells_the_holder_to_go_to_an_outlet_with_their_id(self, app_holder, system):
        from ecard.models import Card

        Card.objects.filter(pk=app_holder.card.pk).update(pin_locked=True)
        payment = app_holder.get("/api/v1/ecard").json()["services"]["payment"]
        assert payment["code"] == "card.pin_locked" and "服务网点解锁" in payment["message"]
