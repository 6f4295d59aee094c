"""Transit payment: a bank or payment app confirms a holder's agreement by a signed call; a
transit code needs a live one, and ending it stops transit at once."""

import secrets
import time
from io import StringIO

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from rest_framework.test import APIClient

from codes import verifier
from ecard.models import Card, Notice, PaymentAgreement, PaymentProvider
from tests.support import ECARD_PASSWORD, issue_code

pytestmark = pytest.mark.django_db
URL = "/api/v1/providers/payment-agreements"


class Provider:
    """A bank's server: its key pair, registered with manage.py register_provider."""

    def __init__(self, tmp_path, name="工商银行"):
        self.key = Ed25519PrivateKey.generate()
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        path = tmp_path / f"{secrets.token_hex(4)}.pub"
        path.write_bytes(pem)
        out = StringIO()
        call_command("register_provider", "--name", name, "--public-key", str(path), stdout=out)
        self.provider_id = out.getvalue().strip().splitlines()[-1]
        self.api = APIClient()

    def token(self, key=None, **claims):
        now = int(time.time())
        body = {
            "iss": self.provider_id,
            "aud": "ecard:provider",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_hex(8),
        }
        body.update(claims)
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None}, key or self.key, algorithm="EdDSA"
        )

    def propose(self, card, agreement_id="AG-0001", token=None, **override):
        Card.objects.filter(pk=card.pk).update(financial_active=True)  # activated at the bank
        body = {
            "agreement_id": agreement_id,
            "card_number": card.number,
            "id_number": card.holder.id_number,
            "method": "bank_account",
            "account_masked": "6222****1234",
            **override,
        }
        return self.api.post(URL, body, format="json", HTTP_AUTHORIZATION=f"Bearer {token or self.token()}")

    def sign_up(self, holder, agreement_id="AG-0001", **override):
        """The whole signing: the provider proposes, the holder confirms in the app."""
        proposed = self.propose(holder.card, agreement_id=agreement_id, **override)
        assert proposed.status_code in (200, 201), proposed.json()
        return confirm(holder, proposed.json()["id"])


def confirm(holder, agreement, password=ECARD_PASSWORD):
    response = holder.post(f"/api/v1/ecard/payment-agreements/{agreement}/confirm", {"password": password})
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def bank(tmp_path):
    return Provider(tmp_path)


@pytest.fixture
def gate(make_scanner):
    return make_scanner(organisation="北京地铁", kind="transit_gate", purposes=("transit",))


def test_register_provider_prints_the_id_as_its_last_line(bank):
    assert (
        bank.provider_id.startswith("pp_")
        and PaymentProvider.objects.filter(provider_id=bank.provider_id).exists()
    )


def test_a_transit_code_works_after_the_agreement_and_stops_when_the_holder_ends_it(
    app_holder, bank, gate, django_capture_on_commit_callbacks
):
    refused = app_holder.post("/api/v1/codes", {"purpose": "transit"})
    assert refused.status_code == 409 and refused.json()["code"] == "transit.no_payment_method"

    response = bank.propose(app_holder.card)
    assert response.status_code == 201 and response.json()["state"] == "pending"
    assert app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409  # not yet
    assert confirm(app_holder, response.json()["id"])["live"] is True
    again = bank.propose(app_holder.card)
    assert again.status_code == 200 and again.json() == {**response.json(), "state": "live"}
    assert PaymentAgreement.objects.count() == 1

    shown = issue_code(app_holder, "transit")
    assert gate.verdict(shown)["result"] == "accepted"
    waiting = issue_code(app_holder, "transit")

    [agreement] = app_holder.get("/api/v1/ecard/payment-agreements").json()
    assert agreement["provider"] == "工商银行" and agreement["account_masked"] == "6222****1234"
    with django_capture_on_commit_callbacks(execute=True):  # as the request's commit would
        ended = app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
    assert ended.status_code == 200 and ended.json()["live"] is False

    assert gate.verdict(waiting)["code"] == "transit.no_payment_method"
    assert (
        app_holder.post("/api/v1/codes", {"purpose": "transit"}).json()["code"] == "transit.no_payment_method"
    )
    # Offline gates learn it from the revocation list.
    keyset = verifier.KeySet.from_jwks(gate.api.get("/api/v1/scanner/keys").json())
    revocations = verifier.RevocationList()
    revocations.apply(gate.api.get("/api/v1/scanner/revocations", **gate.auth()).json()["jws"], keyset)
    assert verifier.Verifier(keyset, revocations).verify(waiting).code == "payment.agreement_ended"


def test_the_holder_is_asked_to_confirm_and_told_of_the_new_agreement(app_holder, bank):
    bank.propose(app_holder.card)
    asked = Notice.objects.get(kind="payment.agreement_proposed", holder=app_holder.card.holder)
    assert "工商银行" in asked.body and "确认" in asked.body and "http" not in asked.body
    bank.sign_up(app_holder)
    notice = Notice.objects.get(kind="payment.agreement_confirmed", holder=app_holder.card.holder)
    assert "工商银行" in notice.body and "http" not in notice.body


def test_a_new_agreement_replaces_the_earlier_one(app_holder, bank, tmp_path):
    bank.sign_up(app_holder, agreement_id="AG-1")
    other = Provider(tmp_path, name="支付宝")
    proposed = other.propose(app_holder.card, agreement_id="X-9", method="wallet")
    assert proposed.status_code == 201
    # A proposal replaces nothing: the earlier agreement pays until the holder confirms.
    listed = app_holder.get("/api/v1/ecard/payment-agreements").json()
    assert [(a["provider"], a["state"]) for a in listed] == [("支付宝", "pending"), ("工商银行", "live")]
    confirm(app_holder, proposed.json()["id"])
    listed = app_holder.get("/api/v1/ecard/payment-agreements").json()
    assert [(a["provider"], a["live"]) for a in listed] == [("支付宝", True), ("工商银行", False)]


def test_an_ended_agreement_cannot_be_ended_again(app_holder, bank):
    agreement = bank.sign_up(app_holder)
    app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
    again = app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
    assert again.status_code == 409 and again.json()["code"] == "agreement.ended"


class TestAttackersStory:
    def test_the_endpoint_exists_and_refuses_a_call_with_no_token(self, app_holder, bank):
        response = APIClient().post(URL, {}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "provider.unauthenticated"
        assert bank.propose(app_holder.card).status_code == 201  # and a signed call goes through

    def test_a_token_signed_by_another_key_is_refused(self, app_holder, bank):
        forged = bank.token(key=Ed25519PrivateKey.generate())
        response = bank.propose(app_holder.card, token=forged)
        assert response.status_code == 401 and response.json()["code"] == "provider.token_invalid"
        assert not PaymentAgreement.objects.exists()

    @pytest.mark.parametrize(
        "claims",
        [
            {"aud": "ecard:scanner"},
            {"iss": "pp_0000000000000000"},
            {"jti": None},
            {"exp": int(time.time()) + 3600},  # longer-lived than 300 s
        ],
    )
    def test_a_token_with_the_wrong_claims_is_refused(self, app_holder, bank, claims):
        response = bank.propose(app_holder.card, token=bank.token(**claims))
        assert response.status_code == 401
        assert response.json()["code"] in ("provider.token_invalid", "provider.token_expired")
        assert not PaymentAgreement.objects.exists()

    def test_an_expired_token_is_refused(self, app_holder, bank):
        old = int(time.time()) - 600
        response = bank.propose(app_holder.card, token=bank.token(iat=old, exp=old + 60))
        assert response.status_code == 401 and response.json()["code"] == "provider.token_expired"

    def test_a_scanners_token_is_no_providers_token(self, app_holder, scanner):
        response = APIClient().post(
            URL, {"agreement_id": "A"}, format="json", HTTP_AUTHORIZATION=f"Bearer {scanner.token}"
        )
        assert response.status_code == 401 and not PaymentAgreement.objects.exists()

    def test_a_disabled_provider_is_refused(self, app_holder, bank):
        PaymentProvider.objects.filter(provider_id=bank.provider_id).update(enabled=False)
        response = bank.propose(app_holder.card)
        assert response.status_code == 403 and response.json()["code"] == "provider.disabled"

    def test_a_card_number_with_someone_elses_id_number_links_nothing(
        self, app_holder, other_app_holder, bank
    ):
        response = bank.propose(app_holder.card, id_number=other_app_holder.card.holder.id_number)
        assert response.status_code == 422 and response.json()["code"] == "agreement.holder_mismatch"
        assert app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409

    def test_one_agreement_id_cannot_move_to_another_card(self, app_holder, other_app_holder, bank):
        bank.propose(app_holder.card, agreement_id="AG-7")
        response = bank.propose(other_app_holder.card, agreement_id="AG-7")
        assert response.status_code == 409 and response.json()["code"] == "agreement.id_reused"
        assert other_app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409

    def test_a_provider_holding_printed_data_binds_nothing_without_the_holder(
        self, app_holder, bank, tmp_path, gate
    ):
        bank.sign_up(app_holder, agreement_id="AG-1")
        shown = issue_code(app_holder, "transit")
        rogue = Provider(tmp_path, name="某支付")
        response = rogue.propose(app_holder.card, agreement_id="R-1", method="wallet")
        assert response.status_code == 201 and response.json()["state"] == "pending"
        assert set(response.json()) == {"id", "agreement_id", "state", "created_at"}  # nothing of the card
        # The holder's agreement stands, still pays, and the rogue's cannot be confirmed by it.
        listed = app_holder.get("/api/v1/ecard/payment-agreements").json()
        assert [(a["provider"], a["state"]) for a in listed] == [("某支付", "pending"), ("工商银行", "live")]
        assert gate.verdict(shown)["result"] == "accepted"
        assert PaymentAgreement.objects.get(provider_agreement_id="R-1").live is False

    def test_a_wrong_e_card_password_confirms_nothing(self, app_holder, bank):
        proposed = bank.propose(app_holder.card).json()
        response = app_holder.post(
            f"/api/v1/ecard/payment-agreements/{proposed['id']}/confirm", {"password": "000000"}
        )
        assert response.status_code in (401, 403) and response.json()["code"].startswith("ecard.password")
        assert PaymentAgreement.objects.get(public_id=proposed["id"]).state == "pending"

    def test_a_proposal_not_confirmed_in_time_lapses(self, app_holder, bank, settings):
        import time_machine
        from django.utils import timezone

        settings.AGREEMENT_PENDING_MINUTES = 2
        proposed = bank.propose(app_holder.card).json()
        later = timezone.now() + timezone.timedelta(minutes=3)
        with time_machine.travel(later):
            response = app_holder.post(
                f"/api/v1/ecard/payment-agreements/{proposed['id']}/confirm", {"password": ECARD_PASSWORD}
            )
            assert response.status_code == 409 and response.json()["code"] == "agreement.lapsed"
            [listed] = app_holder.get("/api/v1/ecard/payment-agreements").json()
            assert listed["state"] == "lapsed"

    def test_the_holder_declines_a_proposal(self, app_holder, bank):
        proposed = bank.propose(app_holder.card).json()
        declined = app_holder.delete(f"/api/v1/ecard/payment-agreements/{proposed['id']}")
        assert declined.status_code == 200 and declined.json()["state"] == "ended"
        assert app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409

    def test_one_provider_token_is_good_for_one_call(self, app_holder, other_app_holder, bank):
        token = bank.token()
        assert bank.propose(app_holder.card, agreement_id="AG-1", token=token).status_code == 201
        replayed = bank.propose(other_app_holder.card, agreement_id="AG-2", token=token)
        assert replayed.status_code == 401 and replayed.json()["code"] == "provider.token_replayed"
        assert not PaymentAgreement.objects.filter(provider_agreement_id="AG-2").exists()

    def test_the_answer_never_says_whether_a_card_has_an_e_card_or_was_lost(
        self, app_holder, bank, make_card, make_holder
    ):
        from ecard.models import CardState

        no_ecard = make_card(holder=make_holder(name="赵六"))
        lost = app_holder.card
        Card.objects.filter(pk=lost.pk).update(state=CardState.TEMPORARILY_LOST)
        answers = set()
        for card, id_number in (
            (no_ecard, no_ecard.holder.id_number),  # a card with no e-card
            (lost, lost.holder.id_number),  # a lost card
            (no_ecard, lost.holder.id_number),  # printed data that does not match
        ):
            response = bank.propose(card, id_number=id_number, method="wallet")
            answers.add((response.status_code, response.json()["code"]))
        assert answers == {(422, "agreement.holder_mismatch")}
        assert not PaymentAgreement.objects.exists()

    @pytest.mark.parametrize(
        "claims",
        [{"exp": "9999999999"}, {"iat": "0"}, {"exp": True}, {"jti": 7}, {"jti": ["a"]}, {"iat": None}],
        ids=["exp-string", "iat-string", "exp-bool", "jti-number", "jti-list", "no-iat"],
    )
    def test_odd_claims_get_the_json_401_never_a_500(self, app_holder, bank, claims):
        response = bank.propose(app_holder.card, token=bank.token(**claims))
        assert response.status_code == 401
        assert response.json()["code"] in ("provider.token_invalid", "provider.token_expired")

    def test_another_holders_agreement_is_not_found(self, app_holder, other_app_holder, bank):
        agreement = bank.sign_up(app_holder)
        response = other_app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
        assert response.status_code == 404 and response.json()["code"] == "agreement.not_found"
        assert PaymentAgreement.objects.get(public_id=agreement["id"]).live


def test_the_cards_bank_account_pays_only_once_its_financial_function_is_active(app_holder, bank):
    body = {
        "agreement_id": "AG-2",
        "card_number": app_holder.card.number,
        "id_number": app_holder.card.holder.id_number,
        "method": "bank_account",
    }
    response = bank.api.post(URL, body, format="json", HTTP_AUTHORIZATION=f"Bearer {bank.token()}")
    assert response.status_code == 409 and response.json()["code"] == "agreement.financial_inactive"
    wallet = bank.api.post(
        URL, {**body, "method": "wallet"}, format="json", HTTP_AUTHORIZATION=f"Bearer {bank.token()}"
    )
    assert wallet.status_code == 201


def test_a_supervisor_registers_a_provider_in_the_admin_and_a_clerk_cannot_disable_it(
    staff_client, supervisor, clerk, tmp_path
):
    from django.urls import reverse

    key = Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    client = staff_client(supervisor)
    response = client.post(
        reverse("admin:ecard_paymentprovider_add"), {"name": "建设银行", "public_key": pem}
    )
    assert response.status_code == 302
    provider = PaymentProvider.objects.get(name="建设银行")
    assert provider.provider_id.startswith("pp_") and provider.enabled
    bad = client.post(reverse("admin:ecard_paymentprovider_add"), {"name": "X", "public_key": "not a key"})
    assert bad.status_code == 200 and PaymentProvider.objects.count() == 1
    url = reverse("admin:ecard_paymentprovider_changelist")
    staff_client(clerk).post(url, {"action": "disable", "_selected_action": [provider.pk]})
    assert PaymentProvider.objects.get(pk=provider.pk).enabled
    staff_client(supervisor).post(url, {"action": "disable", "_selected_action": [provider.pk]})
    assert not PaymentProvider.objects.get(pk=provider.pk).enabled


def test_a_code_asked_for_in_the_second_an_agreement_ended_is_not_refused_as_revoked(
    app_holder, bank, scanner
):
    agreement = bank.sign_up(app_holder)["id"]
    ended = app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement}")
    assert ended.status_code == 200
    # The end revokes every code of its second and before; this one is asked for right after.
    verdict = scanner.verdict(issue_code(app_holder, "payment"))
    assert verdict["result"] == "accepted", verdict  # before: code.revoked, nearly every time


def test_a_provider_switched_off_ends_its_agreements_and_transit_stops_online_and_offline(
    app_holder, bank, gate, staff_client, supervisor
):
    from django.urls import reverse

    from tests.codes.test_verifier import offline_gate

    bank.sign_up(app_holder)
    shown = issue_code(app_holder, "transit")
    offline, revocations = offline_gate(gate)
    assert offline.verify(shown, purposes=["transit"]).accepted
    time.sleep(1.05)  # revocations count whole seconds
    provider = PaymentProvider.objects.get(provider_id=bank.provider_id)
    url = reverse("admin:ecard_paymentprovider_changelist")
    staff_client(supervisor).post(url, {"action": "disable", "_selected_action": [provider.pk]})

    assert PaymentAgreement.objects.get().end_reason == "provider_disabled"
    assert gate.verdict(shown)["result"] == "rejected"
    offline, _ = offline_gate(gate, revocations=revocations)
    assert not offline.verify(shown, purposes=["transit"]).accepted
    transit = app_holder.get("/api/v1/ecard").json()["services"]["transit"]
    assert transit["code"] == "transit.no_payment_method"
    assert app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409
    told = app_holder.get("/api/v1/notices").json()["results"][0]
    assert told["kind"] == "payment.agreement_ended" and "停止提供乘车码支付" in told["body"]


@pytest.mark.parametrize(("method", "kept"), [("bank_account", False), ("wallet", True)])
def test_an_agreement_paying_from_the_old_cards_bank_account_ends_when_the_e_card_moves_to_a_new_card(
    app_holder, bank, gate, system, method, kept
):
    from ecard import services

    bank.sign_up(app_holder, method=method)
    lost = services.card_report_formal_loss(card=app_holder.card, by=system)
    new = services.card_apply_replacement(card=lost, kind="loss", by=system)
    services.card_mark_received(card=new, by=system)
    services.card_enable(card=new, by=system)  # the e-card moves to the new card now
    agreement = PaymentAgreement.objects.get()
    assert agreement.ecard.card_id == new.pk and (agreement.ended_at is None) is kept
    transit = app_holder.get("/api/v1/ecard").json()["services"]["transit"]
    if kept:
        assert gate.verdict(issue_code(app_holder, "transit"))["result"] == "accepted"
    else:
        assert agreement.end_reason == "financial_inactive"
        assert transit["code"] == "transit.no_payment_method"
        told = app_holder.get("/api/v1/notices").json()["results"][0]
        assert told["kind"] == "payment.agreement_ended" and "金融功能尚未激活" in told["body"]
