"""Device-signed codes: the phone's own certified key signs codes while phone and gate are offline."""

import datetime
import time

import pytest
import qrcode
from django.utils import timezone
from qrcode.constants import ERROR_CORRECT_M

from codes import verifier
from codes.device_signer import DeviceSigner
from tests.codes.test_verifier import offline_gate
from tests.support import ECARD_PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def certified(holder, signer=None, **body):
    signer = signer or DeviceSigner()
    response = holder.post("/api/v1/device-certificates", {"public_key": signer.public_key_b64, **body})
    assert response.status_code == 201, response.json()
    signer.accept(response.json()["certificate"])
    return signer, response.json()


class TestCertificates:
    def test_an_active_cards_phone_gets_a_certificate_for_what_it_may_sign_offline(
        self, app_holder, settings
    ):
        signer, answer = certified(app_holder)
        certificate = verifier.parse_certificate(signer.certificate)
        assert certificate.ecard == app_holder.card.ecard.reference
        assert certificate.device_key == signer.public_key
        # No transit payment method yet, and never payment: culture and identity.
        assert certificate.purposes == {"culture", "identity"} and set(answer["purposes"]) == {
            "culture",
            "identity",
        }
        assert certificate.not_after - certificate.not_before == settings.DEVICE_CERT_HOURS * 3600
        assert app_holder.get("/api/v1/device-certificates").json()[0]["serial"] == certificate.serial

    def test_payment_is_never_certified_and_a_bad_key_is_refused(self, app_holder):
        signer = DeviceSigner()
        payment = app_holder.post(
            "/api/v1/device-certificates", {"public_key": signer.public_key_b64, "purposes": ["payment"]}
        )
        assert payment.status_code == 400
        bad = app_holder.post("/api/v1/device-certificates", {"public_key": "bm90IGEga2V5"})
        assert bad.status_code == 422 and bad.json()["code"] == "device.public_key_invalid"

    def test_a_lost_card_gets_no_certificate(self, app_holder):
        app_holder.post("/api/v1/card/loss-report")
        refused = app_holder.post(
            "/api/v1/device-certificates", {"public_key": DeviceSigner().public_key_b64}
        )
        assert refused.status_code == 409 and refused.json()["code"] == "card.temporarily_lost"

    def test_a_third_certificate_revokes_the_oldest(self, app_holder, scanner):
        first, _ = certified(app_holder)
        certified(app_holder)
        certified(app_holder)
        assert len(app_holder.get("/api/v1/device-certificates").json()) == 2
        gate, _ = offline_gate(scanner)
        assert gate.verify(first.code("culture")).code == "certificate.replaced"


class TestDeviceSignedCodes:
    def test_a_phone_signed_code_is_accepted_offline_and_online_and_fits_qr_version_10(
        self, app_holder, scanner
    ):
        signer, _ = certified(app_holder)
        gate, _ = offline_gate(scanner)
        text = signer.code("culture")
        result = gate.verify(text, purposes=["culture"])
        assert result.accepted and result.parsed.certificate is not None
        verdict = scanner.verdict(signer.code("identity"))
        assert verdict["result"] == "accepted" and verdict["holder"] == app_holder.card.holder.name_masked
        qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
        qr.add_data(text)
        qr.make(fit=True)
        assert qr.version <= 10

    def test_a_revoked_certificate_is_refused_offline_after_sync_and_online_at_once(
        self, app_holder, scanner
    ):
        signer, answer = certified(app_holder)
        text = signer.code("culture")
        assert app_holder.delete(f"/api/v1/device-certificates/{answer['serial']}").status_code == 204
        assert scanner.verdict(text)["code"] == "certificate.revoked"
        gate, _ = offline_gate(scanner)
        assert gate.verify(signer.code("culture")).code == "certificate.revoked"

    def test_an_expired_certificate_is_refused(self, app_holder, scanner, settings):
        signer, _ = certified(app_holder)
        certificate = verifier.parse_certificate(signer.certificate)
        later = certificate.not_after + 3600
        gate, revocations = offline_gate(scanner)
        late_gate = verifier.Verifier(gate.keys, revocations, clock=lambda: later, max_revocation_age=10**9)
        assert late_gate.verify(signer.code("culture", now=later)).code == "certificate.expired"

    def test_a_purpose_the_certificate_lacks_is_refused(self, app_holder, scanner):
        signer, _ = certified(app_holder, purposes=["identity"])
        gate, _ = offline_gate(scanner)
        assert gate.verify(signer.code("culture")).code == "certificate.purpose_not_allowed"

    def test_a_counter_already_used_at_this_gate_is_refused(self, app_holder, scanner):
        signer, _ = certified(app_holder)
        gate, _ = offline_gate(scanner)
        assert gate.verify(signer.code("culture", counter=7)).accepted
        assert gate.verify(signer.code("culture", counter=7)).code == "code.replayed"
        # Online the server counts it once too.
        text = signer.code("culture")
        assert scanner.verdict(text)["result"] == "accepted"
        assert scanner.verdict(text)["code"] == "code.replayed"

    def test_a_tampered_byte_is_refused(self, app_holder, scanner):
        signer, _ = certified(app_holder)
        gate, _ = offline_gate(scanner)
        raw = bytearray(verifier.b45decode(signer.code("culture")[4:]))
        raw[-70] ^= 1  # the counter: the device signature no longer matches
        tampered = verifier.PREFIX + verifier.base45.b45encode(bytes(raw)).decode()
        assert gate.verify(tampered).code == "code.bad_signature"
        raw = bytearray(verifier.b45decode(signer.code("culture")[4:]))
        raw[20] ^= 1  # inside the certificate: the issuer signature no longer matches
        forged = verifier.PREFIX + verifier.base45.b45encode(bytes(raw)).decode()
        assert gate.verify(forged).code == "certificate.bad_signature"

    def test_a_card_reported_lost_after_the_certificate_refuses_its_codes_after_the_next_sync(
        self, app_holder, scanner, system
    ):
        signer, _ = certified(app_holder)
        gate, revocations = offline_gate(scanner)
        assert gate.verify(signer.code("culture")).accepted
        assert app_holder.post("/api/v1/card/loss-report").status_code == 200
        # A phone may write any time into its codes: the certificate itself is revoked.
        backdated = signer.code("culture", now=int(time.time()) - 30)
        gate, _ = offline_gate(scanner, revocations=revocations)
        assert gate.verify(backdated).code == "card.temporarily_lost"
        assert scanner.verdict(signer.code("identity"))["code"] == "card.temporarily_lost"

    def test_a_password_change_revokes_the_certificate(self, app_holder, scanner):
        signer, _ = certified(app_holder)
        changed = app_holder.post(
            "/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "975310"}
        )
        assert changed.status_code == 204
        gate, _ = offline_gate(scanner)
        assert gate.verify(signer.code("culture")).code == "ecard.password_changed"

    def test_an_offline_upload_of_a_device_code_is_counted_once(self, app_holder, scanner):
        signer, _ = certified(app_holder)
        text = signer.code("culture")
        item = {"code": text, "scanned_at": timezone.now().isoformat(), "result": "accepted"}
        first = scanner.api.post("/api/v1/scanner/scans", {"scans": [item]}, format="json", **scanner.auth())
        again = scanner.api.post("/api/v1/scanner/scans", {"scans": [item]}, format="json", **scanner.auth())
        assert first.status_code == again.status_code == 200, first.content
        assert first.json()["created"] == 1 and again.json()["duplicates"] == 1
        assert scanner.verdict(text)["code"] == "code.replayed"


def test_the_signer_refuses_a_certificate_for_another_key(app_holder):
    _, answer = certified(app_holder)
    with pytest.raises(ValueError):
        DeviceSigner().accept(answer["certificate"])


def test_certificates_are_not_shown_for_a_day_past_their_end(app_holder):
    from codes.models import DeviceCertificate

    certified(app_holder)
    DeviceCertificate.objects.update(not_after=timezone.now() - datetime.timedelta(seconds=1))
    assert app_holder.get("/api/v1/device-certificates").json() == []
