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

from ecard.models import Card, Notice, PaymentAgreement, PaymentProvider
from tokens import verifier

from .conftest import issue_code

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

    def confirm(self, card, agreement_id="AG-0001", token=None, **override):
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

    response = bank.confirm(app_holder.card)
    assert response.status_code == 201 and response.json()["live"] is True
    again = bank.confirm(app_holder.card)
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
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


def test_the_holder_is_told_of_a_new_agreement(app_holder, bank):
    bank.confirm(app_holder.card)
    notice = Notice.objects.get(kind="payment.agreement_confirmed", holder=app_holder.card.holder)
    assert "工商银行" in notice.body and "http" not in notice.body


def test_a_new_agreement_replaces_the_earlier_one(app_holder, bank, tmp_path):
    bank.confirm(app_holder.card, agreement_id="AG-1")
    other = Provider(tmp_path, name="支付宝")
    assert other.confirm(app_holder.card, agreement_id="X-9", method="wallet").status_code == 201
    listed = app_holder.get("/api/v1/ecard/payment-agreements").json()
    assert [(a["provider"], a["live"]) for a in listed] == [("支付宝", True), ("工商银行", False)]


def test_an_ended_agreement_cannot_be_ended_again(app_holder, bank):
    agreement = bank.confirm(app_holder.card).json()
    app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
    again = app_holder.delete(f"/api/v1/ecard/payment-agreements/{agreement['id']}")
    assert again.status_code == 409 and again.json()["code"] == "agreement.ended"


class TestAttackersStory:
    def test_the_endpoint_exists_and_refuses_a_call_with_no_token(self, app_holder, bank):
        response = APIClient().post(URL, {}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "provider.unauthenticated"
        assert bank.confirm(app_holder.card).status_code == 201  # and a signed call goes through

    def test_a_token_signed_by_another_key_is_refused(self, app_holder, bank):
        forged = bank.token(key=Ed25519PrivateKey.generate())
        response = bank.confirm(app_holder.card, token=forged)
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
        response = bank.confirm(app_holder.card, token=bank.token(**claims))
        assert response.status_code == 401 and response.json()["code"] == "provider.token_invalid"
        assert not PaymentAgreement.objects.exists()

    def test_an_expired_token_is_refused(self, app_holder, bank):
        old = int(time.time()) - 600
        response = bank.confirm(app_holder.card, token=bank.token(iat=old, exp=old + 60))
        assert response.status_code == 401 and response.json()["code"] == "provider.token_expired"

    def test_a_scanners_token_is_no_providers_token(self, app_holder, scanner):
        response = APIClient().post(
            URL, {"agreement_id": "A"}, format="json", HTTP_AUTHORIZATION=f"Bearer {scanner.token}"
        )
        assert response.status_code == 401 and not PaymentAgreement.objects.exists()

    def test_a_disabled_provider_is_refused(self, app_holder, bank):
        PaymentProvider.objects.filter(provider_id=bank.provider_id).update(enabled=False)
        response = bank.confirm(app_holder.card)
        assert response.status_code == 403 and response.json()["code"] == "provider.disabled"

    def test_a_card_number_with_someone_elses_id_number_links_nothing(
        self, app_holder, other_app_holder, bank
    ):
        response = bank.confirm(app_holder.card, id_number=other_app_holder.card.holder.id_number)
        assert response.status_code == 422 and response.json()["code"] == "agreement.holder_mismatch"
        assert app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409

    def test_one_agreement_id_cannot_move_to_another_card(self, app_holder, other_app_holder, bank):
        bank.confirm(app_holder.card, agreement_id="AG-7")
        response = bank.confirm(other_app_holder.card, agreement_id="AG-7")
        assert response.status_code == 409 and response.json()["code"] == "agreement.id_reused"
        assert other_app_holder.post("/api/v1/codes", {"purpose": "transit"}).status_code == 409

    def test_another_holders_agreement_is_not_found(self, app_holder, other_app_holder, bank):
        agreement = bank.confirm(app_holder.card).json()
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
