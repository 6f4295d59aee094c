"""The national cryptography profile: SM2 with SM3 signing keys beside Ed25519, and SM2 scanners."""

import re
import time
from pathlib import Path

import jwt
import pytest
import qrcode
import time_machine
from django.core.management import call_command
from gmssl import sm2 as gmssl_sm2
from qrcode.constants import ERROR_CORRECT_M

from codes import keys, verifier
from codes.models import SigningKey
from ecard import services
from tests.codes.test_verifier import offline_gate
from tests.support import ECARD_PASSWORD, ROOT, issue_code

pytestmark = pytest.mark.django_db
DOC = ROOT / "docs" / "qr-format.md"


def sm2_key_signing_now(settings) -> SigningKey:
    """An SM2 key that signs at once (the Ed25519 key it replaces keeps verifying)."""
    settings.QR_KEY_PUBLISH_LEAD_SECONDS = 0
    call_command("rotate_signing_key", "--algorithm", "sm2", stdout=open("/dev/null", "w"))
    keys.forget_cached_keys()
    return SigningKey.objects.get(algorithm="SM2")


def flip(text: str, index: int) -> str:
    raw = bytearray(verifier.b45decode(text[len(verifier.PREFIX) :]))
    raw[index] ^= 0x01
    import base45

    return verifier.PREFIX + base45.b45encode(bytes(raw)).decode()


class TestSM2SigningKeys:
    def test_the_command_makes_an_sm2_key_published_as_an_ec_jwk_on_curve_sm2(self, api, settings):
        key = sm2_key_signing_now(settings)
        [jwk] = [k for k in api.get("/api/v1/scanner/keys").json()["keys"] if k["kid"] == key.kid]
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "SM2", "SM2SM3")
        assert len(verifier.b64url_decode(jwk["x"])) == 32 and len(verifier.b64url_decode(jwk["y"])) == 32
        assert "d" not in jwk
        pem = (Path(settings.QR_SIGNING_KEYS_DIR) / f"{key.kid}.pem").read_bytes()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----") and pem.hex() not in str(
            SigningKey.objects.values()
        )

    def test_the_national_profile_makes_sm2_keys_by_default(self, settings):
        settings.CRYPTO_PROFILE = "national"
        assert keys.signing_key_rotate().algorithm == "SM2"
        settings.CRYPTO_PROFILE = "international"
        assert keys.signing_key_rotate().algorithm == "Ed25519"

    def test_an_sm2_signed_code_is_as_small_as_an_ed25519_one_and_verifies_online(
        self, app_holder, scanner, settings
    ):
        key = sm2_key_signing_now(settings)
        text = issue_code(app_holder, "payment")
        assert verifier.parse(text).kid == key.kid
        qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
        qr.add_data(text)
        qr.make(fit=True)
        assert qr.version == 6
        assert scanner.verdict(text)["result"] == "accepted"

    def test_an_sm2_signed_code_verifies_offline_with_an_sm2_signed_revocation_list(
        self, app_holder, scanner, settings, system
    ):
        sm2_key_signing_now(settings)
        text = issue_code(app_holder, "culture")
        gate, revocations = offline_gate(scanner)
        assert gate.verify(text).accepted
        page = scanner.api.get("/api/v1/scanner/revocations?since=0", **scanner.auth()).json()
        assert jwt.get_unverified_header(page["jws"])["alg"] == "SM2SM3"
        time.sleep(1.05)
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        gate, _ = offline_gate(scanner, revocations=revocations)
        assert gate.verify(text).code == "card.temporarily_lost"

    @pytest.mark.parametrize(
        "index", [1, 10, 20, 40, 96], ids=["purpose", "ecard", "issued", "sig-r", "sig-s"]
    )
    def test_an_sm2_signed_code_altered_in_any_byte_is_refused(self, app_holder, scanner, settings, index):
        sm2_key_signing_now(settings)
        text = flip(issue_code(app_holder, "identity"), index)
        assert scanner.verdict(text)["code"] in ("code.bad_signature", "code.malformed")
        gate, _ = offline_gate(scanner)
        assert gate.verify(text).code in ("code.bad_signature", "code.malformed")

    def test_an_ed25519_and_an_sm2_key_are_live_together_during_a_rotation(
        self, app_holder, scanner, api, settings
    ):
        settings.QR_KEY_PUBLISH_LEAD_SECONDS = 120
        old_text = issue_code(app_holder, "identity")
        old = SigningKey.objects.get()
        assert old.algorithm == "Ed25519"
        new = keys.signing_key_rotate(algorithm="SM2")
        published = {k["kid"]: k["crv"] for k in api.get("/api/v1/scanner/keys").json()["keys"]}
        assert published == {old.kid: "Ed25519", new.kid: "SM2"}
        with time_machine.travel(time.time() + 121):
            keys.forget_cached_keys()
            new_text = issue_code(app_holder, "identity")
            assert verifier.parse(new_text).kid == new.kid
            gate, _ = offline_gate(scanner)
            for text in (old_text, new_text):
                assert scanner.verdict(text)["result"] == "accepted"
                assert gate.verify(text).accepted

    def test_a_password_change_revokes_sm2_codes_too(self, app_holder, scanner, settings):
        sm2_key_signing_now(settings)
        text = issue_code(app_holder, "identity")
        time.sleep(1.05)
        app_holder.post("/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"})
        assert scanner.verdict(text)["code"] == "code.revoked"

    def test_a_device_certificate_signed_by_an_sm2_issuer_key_verifies_offline(
        self, app_holder, scanner, settings
    ):
        from tests.codes.test_device_codes import certified

        key = sm2_key_signing_now(settings)
        signer, _ = certified(app_holder)
        assert verifier.parse_certificate(signer.certificate).kid == key.kid
        gate, _ = offline_gate(scanner)
        assert gate.verify(signer.code("identity")).accepted
        assert flip(signer.code("identity"), 70)  # an issuer-signature byte
        assert gate.verify(flip(signer.code("culture"), 70)).code == "certificate.bad_signature"


def sm2_vectors():
    block = re.search(r"```text sm2-vectors\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    public, *codes = block.strip().split("\n\n")
    return public.split(": ", 1)[1], [
        dict(line.split(": ", 1) for line in chunk.splitlines()) for chunk in codes
    ]


SM2_PUBLIC, SM2_VECTORS = sm2_vectors()


class TestSM2Vectors:
    def test_the_documented_public_key_is_the_documented_private_keys(self):
        private = verifier.ALGORITHMS["SM2"].private_from_raw(
            bytes.fromhex("b1c9707ba9cabb9fa5e73d0d1f69d8fbabe60e1fbe20c51e94e71cfecbc3dcf4")
        )
        assert verifier.ALGORITHMS["SM2"].public_raw(private.public_key()).hex() == SM2_PUBLIC

    @pytest.mark.parametrize("vector", SM2_VECTORS, ids=[v["purpose"] for v in SM2_VECTORS])
    def test_an_independent_sm2_implementation_verifies_the_documented_signature(self, vector):
        independent = gmssl_sm2.CryptSM2(private_key=None, public_key=SM2_PUBLIC[2:])
        assert independent.verify_with_sm3(vector["signature"], bytes.fromhex(vector["body"]))
        tampered = bytes.fromhex(vector["body"])[:-1] + b"\x00"
        assert not independent.verify_with_sm3(vector["signature"], tampered)

    @pytest.mark.parametrize("vector", SM2_VECTORS, ids=[v["purpose"] for v in SM2_VECTORS])
    def test_our_encoder_writes_the_documented_body_and_our_verifier_accepts_the_text(self, vector):
        code = verifier.parse(vector["text"])
        assert (code.body.hex(), code.signature.hex()) == (vector["body"], vector["signature"])
        again = verifier.encode(
            purpose=vector["purpose"],
            kid="5e2a0c0d",
            ecard="00112233445566778899aabb",
            issued_at=1767225600,
            lifetime=int(vector["lifetime"]),
            nonce=bytes.fromhex("0102030405060708"),
            authorised_by_holder=False,
            sign=lambda body: bytes.fromhex(vector["signature"]),
        )
        assert again == vector["text"]
        jwk = {
            **verifier.ALGORITHMS["SM2"].jwk_fields(bytes.fromhex(SM2_PUBLIC)),
            "kid": "5e2a0c0d",
            "nbf": 1767225600,
        }
        gate = verifier.Verifier(verifier.KeySet.from_jwks({"keys": [jwk]}), clock=lambda: 1767225630)
        assert gate.verify(vector["text"]).accepted

    def test_a_signature_made_by_the_independent_implementation_verifies_with_ours(self):
        private_hex = "b1c9707ba9cabb9fa5e73d0d1f69d8fbabe60e1fbe20c51e94e71cfecbc3dcf4"
        independent = gmssl_sm2.CryptSM2(private_key=private_hex, public_key=SM2_PUBLIC[2:])
        body = bytes.fromhex(SM2_VECTORS[0]["body"])
        signature = bytes.fromhex(independent.sign_with_sm3(body))
        scheme = verifier.ALGORITHMS["SM2"]
        assert scheme.verify(scheme.public_from_raw(bytes.fromhex(SM2_PUBLIC)), signature, body)


class TestSM2Scanners:
    def test_a_scanner_registered_with_an_sm2_key_authenticates_with_sm2_jwts(self, app_holder, make_scanner):
        gate = make_scanner(algorithm="SM2")
        assert jwt.get_unverified_header(gate.token)["alg"] == "SM2SM3"
        assert gate.verdict(issue_code(app_holder, "identity"))["result"] == "accepted"

    def test_an_sm2_scanners_jwt_signed_by_another_sm2_key_is_refused(self, app_holder, make_scanner):
        gate = make_scanner(algorithm="SM2")
        assert gate.verify(issue_code(app_holder, "identity")).status_code == 200  # the endpoint exists
        stranger = verifier.ALGORITHMS["SM2"].generate()
        forged = verifier.device_assertion(gate.device.device_id, stranger)
        response = gate.verify(issue_code(app_holder, "identity"), token=forged)
        assert (response.status_code, response.json()["code"]) == (401, "scanner.token_invalid")

    def test_a_registered_key_type_decides_the_algorithm_and_no_other_is_taken(
        self, app_holder, make_scanner
    ):
        sm2_gate = make_scanner(algorithm="SM2")
        ed_gate = make_scanner()
        # The Ed25519 device's key signing a token for the SM2 device: the algorithms differ.
        swapped = verifier.device_assertion(sm2_gate.device.device_id, ed_gate.key)
        response = sm2_gate.verify(issue_code(app_holder, "identity"), token=swapped)
        assert (response.status_code, response.json()["code"]) == (401, "scanner.token_invalid")
        claims = jwt.decode(sm2_gate.token, options={"verify_signature": False})
        hs256 = jwt.encode(claims, sm2_gate.device.public_key, algorithm="HS256")
        response = sm2_gate.verify(issue_code(app_holder, "identity"), token=hs256)
        assert (response.status_code, response.json()["code"]) == (401, "scanner.token_invalid")

    def test_the_register_command_takes_an_sm2_pem_and_refuses_a_point_off_the_curve(self, tmp_path):
        from django.core.management.base import CommandError
        from tongsuopy.crypto import serialization

        from codes.models import ScannerDevice

        key = verifier.ALGORITHMS["SM2"].generate()
        pem = tmp_path / "gate.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        arguments = ["--org", "地铁", "--kind", "transit_gate", "--purposes", "transit"]
        call_command("register_scanner", *arguments, "--public-key", str(pem), stdout=open("/dev/null", "w"))
        device = ScannerDevice.objects.get()
        assert verifier.b64url_decode(device.public_key) == verifier.ALGORITHMS["SM2"].public_raw(
            key.public_key()
        )
        off_curve = tmp_path / "bad.txt"
        off_curve.write_text(verifier.b64url(b"\x04" + bytes(63) + b"\x01"))
        with pytest.raises(CommandError, match="SM2"):
            call_command("register_scanner", *arguments, "--public-key", str(off_curve))
        assert ScannerDevice.objects.count() == 1
