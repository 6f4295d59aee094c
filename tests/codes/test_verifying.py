"""QR codes: issuing by the service matrix, and every reason a scanner's verification refuses."""

import datetime
import io
import time
from urllib.parse import quote

import pytest
import qrcode
import time_machine
from django.utils import timezone
from qrcode.constants import ERROR_CORRECT_M

from codes import keys, verifier
from codes.models import ScanRecord, SigningKey
from ecard import services
from ecard.audit import Actor
from ecard.models import ECard
from tests.support import ECARD_PASSWORD, Holder_, issue_code

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def tamper(text: str, position: int) -> str:
    raw = bytearray(verifier.base45.b45decode(text[len(verifier.PREFIX) :]))
    raw[position] ^= 0x01
    return verifier.PREFIX + verifier.base45.b45encode(bytes(raw)).decode()


def authorise(holder, purposes=("payment",), minutes=30):
    response = holder.post(
        "/api/v1/ecard/authorisations",
        {"password": ECARD_PASSWORD, "purposes": list(purposes), "minutes": minutes},
    )
    assert response.status_code == 201, response.json()
    return response.json()


class TestIssuing:
    def test_an_active_card_gets_a_code_for_each_purpose_but_transit_without_payment(self, app_holder):
        for purpose in ("payment", "culture", "identity"):
            body = app_holder.post("/api/v1/codes", {"purpose": purpose}).json()
            assert (
                body["purpose"] == purpose
                and body["code"].startswith("EC1:")
                and not body["authorised_by_holder"]
            )
            assert body["verdict"] == "allowed"
        response = app_holder.post("/api/v1/codes", {"purpose": "transit"})
        assert response.status_code == 409 and response.json()["code"] == "transit.no_payment_method"

    def test_the_lifetime_is_the_purposes_setting(self, app_holder):
        before = timezone.now()
        for purpose, seconds in (("payment", 60), ("identity", 120)):
            expires = datetime.datetime.fromisoformat(
                app_holder.post("/api/v1/codes", {"purpose": purpose}).json()["expires_at"]
            )
            assert seconds - 2 <= (expires - before).total_seconds() <= seconds + 2

    def test_a_sealed_card_gets_no_payment_code(self, api, make_card):
        holder = Holder_(api, make_card("sealed"), "13900000001")
        response = holder.post("/api/v1/codes", {"purpose": "payment"})
        assert response.status_code == 409 and response.json()["code"] == "card.not_enabled"
        assert holder.post("/api/v1/codes", {"purpose": "identity"}).status_code == 201

    def test_a_lost_card_gets_a_code_only_under_a_live_authorisation_and_it_is_marked(
        self, app_holder, system
    ):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        response = app_holder.post("/api/v1/codes", {"purpose": "payment"})
        assert response.status_code == 409 and response.json()["code"] == "authorisation.required"
        authorise(app_holder)
        body = app_holder.post("/api/v1/codes", {"purpose": "payment"}).json()
        assert body["authorised_by_holder"] and body["verdict"] == "needs_authorisation"
        assert verifier.parse(body["code"]).authorised_by_holder
        refused = app_holder.post("/api/v1/codes", {"purpose": "culture"})
        assert refused.json()["code"] == "authorisation.required"

    def test_a_cancelled_card_gets_no_code(self, app_holder, system):
        services.card_cancel(card=app_holder.card, reason="emigrated", by=system)
        assert app_holder.post("/api/v1/codes", {"purpose": "identity"}).json()["code"] == "card.cancelled"

    def test_the_code_carries_no_personal_data(self, app_holder):
        text = issue_code(app_holder)
        code = verifier.parse(text)
        holder = app_holder.card.holder
        for secret in (holder.id_number, app_holder.card.number, holder.name):
            assert secret not in text
        assert code.ecard == ECard.objects.get(card=app_holder.card).reference

    def test_every_purpose_fits_qr_version_6_at_level_m(self, app_holder, system):
        ECard.objects.filter(card=app_holder.card).update(transit_payment_method="wechat_pay")
        for purpose in ("payment", "transit", "culture", "identity"):
            qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
            qr.add_data(issue_code(app_holder, purpose))
            qr.make(fit=True)
            assert qr.version <= 6

    def test_a_png_drawn_by_the_server_decodes_with_zxing_and_verifies(self, app_holder, scanner):
        import zxingcpp
        from PIL import Image

        text = issue_code(app_holder, "identity")
        response = app_holder.get(f"/api/v1/codes/{quote(text, safe='')}.png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.content)))
        assert [d.text for d in decoded] == [text]
        assert scanner.verdict(decoded[0].text)["result"] == "accepted"

    def test_an_svg_is_drawn_too(self, app_holder):
        text = issue_code(app_holder, "identity")
        response = app_holder.get(f"/api/v1/codes/{quote(text, safe='')}.svg")
        assert response.status_code == 200 and b"<svg" in response.content

    def test_another_holders_code_is_not_drawn(self, app_holder, other_app_holder):
        text = issue_code(other_app_holder, "identity")
        assert app_holder.get(f"/api/v1/codes/{quote(text, safe='')}.png").status_code == 404


class TestVerify:
    def test_a_good_code_is_accepted_with_the_masked_holder(self, app_holder, scanner):
        body = scanner.verdict(issue_code(app_holder))
        assert body["result"] == "accepted" and body["code"] is None and body["purpose"] == "payment"
        assert body["holder"] == app_holder.card.holder.name_masked and body["scan_id"]
        assert body["ecard"] == ECard.objects.get(card=app_holder.card).reference

    @pytest.mark.parametrize(
        ("mangle", "reason"),
        [
            (lambda t: "XYZ:" + t[4:], "code.malformed"),
            (lambda t: t[:-5], "code.bad_signature"),
            (lambda t: t + "%%", "code.malformed"),
            (lambda t: tamper(t, 0), "code.unsupported_version"),
            (lambda t: tamper(t, 3), "code.unknown_key"),
            (lambda t: tamper(t, 20), "code.bad_signature"),
            (lambda t: tamper(t, 40), "code.bad_signature"),
        ],
    )
    def test_a_damaged_or_forged_code_is_refused(self, app_holder, scanner, mangle, reason):
        body = scanner.verdict(mangle(issue_code(app_holder)))
        assert (body["result"], body["code"]) == ("rejected", reason)

    def test_an_expired_code_is_refused_after_the_skew(self, app_holder, scanner):
        text = issue_code(app_holder)
        with time_machine.travel(time.time() + 60 + 14):
            assert scanner.verdict(text)["result"] == "accepted"
        text = issue_code(app_holder)
        with time_machine.travel(time.time() + 60 + 16):
            assert scanner.verdict(text)["code"] == "code.expired"

    def test_a_code_from_the_future_is_refused(self, app_holder, scanner):
        with time_machine.travel(time.time() + 30):
            text = issue_code(app_holder)
        assert scanner.verdict(text)["code"] == "code.not_yet_valid"

    def test_a_purpose_the_device_is_not_registered_for_is_refused(self, app_holder, make_scanner):
        library = make_scanner(organisation="首都图书馆", kind="culture", purposes=("culture",))
        assert library.verdict(issue_code(app_holder, "payment"))["code"] == "code.purpose_not_allowed"
        assert library.verdict(issue_code(app_holder, "culture"))["result"] == "accepted"

    def test_a_loss_reported_between_issue_and_scan_is_caught(self, app_holder, scanner, system):
        text = issue_code(app_holder)
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        assert scanner.verdict(text)["code"] == "card.temporarily_lost"

    def test_with_a_live_authorisation_it_is_accepted_and_flagged(self, app_holder, scanner, system):
        text = issue_code(app_holder)
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        authorise(app_holder)
        body = scanner.verdict(text)
        assert body["result"] == "accepted" and body["authorised_by_holder"]

    def test_a_withdrawn_authorisation_no_longer_lets_it_through(self, app_holder, scanner, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        grant = authorise(app_holder)
        text = issue_code(app_holder)
        app_holder.delete(f"/api/v1/ecard/authorisations/{grant['id']}")
        assert scanner.verdict(text)["code"] == "card.temporarily_lost"

    def test_a_formal_loss_refuses_with_its_own_reason(self, app_holder, scanner, system):
        text = issue_code(app_holder)
        services.card_report_formal_loss(card=app_holder.card, by=system)
        assert scanner.verdict(text)["code"] == "card.lost"

    def test_a_cancelled_card_is_refused(self, app_holder, scanner, system):
        text = issue_code(app_holder, "identity")
        services.card_cancel(card=app_holder.card, reason="deceased", by=system)
        assert scanner.verdict(text)["code"] == "card.cancelled"

    def test_a_pin_locked_card_is_refused_for_payment_but_not_identity(self, app_holder, scanner, system):
        payment, identity = issue_code(app_holder), issue_code(app_holder, "identity")
        for _ in range(6):
            try:
                services.card_check_pin(card=app_holder.card, pin="000000", by=system)
            except Exception:
                pass
        assert scanner.verdict(payment)["code"] == "card.pin_locked"
        assert scanner.verdict(identity)["result"] == "accepted"

    def test_the_initial_pin_cannot_pay_until_the_holder_changes_it_in_the_app(
        self, api, make_card, scanner, clerk
    ):
        holder = Holder_(api, make_card(pin=None), "13900000011")
        payment = holder.get("/api/v1/ecard").json()["services"]["payment"]
        assert (payment["verdict"], payment["code"]) == ("denied", "card.initial_pin")
        assert "初始密码" in payment["message"]
        refused = holder.post("/api/v1/codes", {"purpose": "payment"})
        assert refused.status_code == 409 and refused.json()["code"] == "card.initial_pin"
        assert holder.post("/api/v1/codes", {"purpose": "identity"}).status_code == 201
        changed = holder.post("/api/v1/card/pin", {"old_pin": "123456", "new_pin": "740285"})
        assert changed.status_code == 200, changed.json()
        text = issue_code(holder)
        # A code shown, then the PIN reset at the counter: the scanner is told what issuing would.
        services.card_reset_pin(card=holder.card, by=Actor.staff(clerk))
        assert scanner.verdict(text)["code"] == "card.initial_pin"
        assert holder.post("/api/v1/codes", {"purpose": "payment"}).json()["code"] == "card.initial_pin"

    def test_a_password_change_revokes_earlier_codes(self, app_holder, scanner):
        text = issue_code(app_holder, "identity")
        time.sleep(1.05)  # codes carry whole seconds
        app_holder.post("/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"})
        assert scanner.verdict(text)["code"] == "code.revoked"
        assert scanner.verdict(issue_code(app_holder, "identity"))["result"] == "accepted"

    def test_a_code_of_the_same_second_as_a_password_change_is_refused_online_and_offline(
        self, app_holder, scanner
    ):
        second = time.time() // 1 + 3
        with time_machine.travel(second + 0.2, tick=False):
            before = issue_code(app_holder, "identity")
        with time_machine.travel(second + 0.6):  # the clock runs: the next code waits for it
            changed = app_holder.post(
                "/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"}
            )
            assert changed.status_code == 204
            after = issue_code(app_holder, "identity")  # waits for the next second
            assert time.time() >= second + 1
            assert scanner.verdict(before)["code"] == "code.revoked"
            assert scanner.verdict(after)["result"] == "accepted"
            keyset = verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())
            revocations = verifier.RevocationList()
            page = scanner.api.get("/api/v1/scanner/revocations", **scanner.auth()).json()
            revocations.apply(page["jws"], keyset)
            offline = verifier.Verifier(keyset, revocations)
            assert offline.verify(before).code == "ecard.password_changed"
            assert offline.verify(after).accepted

    def test_a_payment_code_is_accepted_once(self, app_holder, scanner, make_scanner):
        text = issue_code(app_holder)
        assert scanner.verdict(text)["result"] == "accepted"
        assert scanner.verdict(text)["code"] == "code.replayed"
        pharmacy = make_scanner(organisation="同仁堂", kind="medical", purposes=("payment",))
        assert pharmacy.verdict(text)["code"] == "code.replayed"

    def test_a_transit_code_is_accepted_once_per_operator(self, app_holder, scanner, make_scanner):
        ECard.objects.filter(card=app_holder.card).update(transit_payment_method="wechat_pay")
        text = issue_code(app_holder, "transit")
        assert scanner.verdict(text)["result"] == "accepted"
        same_operator = make_scanner(organisation="北京地铁", purposes=("transit",))
        assert same_operator.verdict(text)["code"] == "code.replayed"
        bus = make_scanner(organisation="北京公交", purposes=("transit",))
        assert bus.verdict(text)["result"] == "accepted"

    def test_an_identity_code_is_accepted_any_number_of_times(self, app_holder, scanner):
        text = issue_code(app_holder, "identity")
        assert [scanner.verdict(text)["result"] for _ in range(3)] == ["accepted"] * 3

    def test_every_verification_is_recorded(self, app_holder, scanner):
        text = issue_code(app_holder)
        scanner.verdict(text)
        scanner.verdict(text)
        scanner.verdict("garbage")
        from codes.services import scan_records_flush

        scan_records_flush()
        records = list(ScanRecord.objects.order_by("scanned_at").values_list("result", "reason"))
        assert records == [
            ("accepted", ""),
            ("rejected", "code.replayed"),
            ("rejected", "code.malformed"),
        ]

    def test_the_holder_sees_their_scans(self, app_holder, scanner):
        scanner.verdict(issue_code(app_holder))
        usage = app_holder.get("/api/v1/ecard/usage").json()
        assert usage["count"] == 1
        entry = usage["results"][0]
        assert (entry["organisation"], entry["purpose"], entry["result"]) == (
            "北京地铁",
            "payment",
            "accepted",
        )


class TestScannerAuthentication:
    def test_no_token_is_401(self, app_holder, scanner):
        response = scanner.api.post("/api/v1/scanner/verify", {"code": "x"}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "scanner.unauthenticated"

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"aud": "ecard:app"}, "scanner.token_invalid"),
            ({"exp": int(time.time()) + 3600}, "scanner.token_invalid"),
            (
                {"exp": int(time.time()) - 60, "iat": int(time.time()) - 120},
                "scanner.token_expired",
            ),
            ({"jti": None}, "scanner.token_invalid"),
            ({"iss": "dev_nobody"}, "scanner.token_invalid"),
        ],
    )
    def test_a_bad_device_token_is_refused(self, scanner, overrides, code):
        response = scanner.verify("x", token=scanner.jwt(**overrides))
        assert response.status_code == 401 and response.json()["code"] == code

    def test_a_token_signed_by_another_key_is_refused(self, scanner, make_scanner):
        other = make_scanner()
        forged = other.jwt(iss=scanner.device.device_id)
        assert scanner.verify("x", token=forged).json()["code"] == "scanner.token_invalid"

    def test_a_disabled_device_is_refused(self, app_holder, scanner, system):
        from codes.services import scanner_set_enabled

        scanner.verdict(issue_code(app_holder, "identity"))
        scanner_set_enabled(device=scanner.device, enabled=False, by=system)
        response = scanner.verify(issue_code(app_holder, "identity"))
        assert response.status_code == 403 and response.json()["code"] == "scanner.disabled"

    def test_a_holders_token_is_not_a_scanners(self, app_holder, scanner):
        response = scanner.api.post("/api/v1/scanner/verify", {"code": "x"}, format="json", **app_holder.auth)
        assert response.status_code == 401


class TestKeys:
    def test_the_key_set_is_published_as_okp_jwks_and_cacheable(self, app_holder, api):
        issue_code(app_holder)
        response = api.get("/api/v1/scanner/keys")
        assert "max-age" in response["Cache-Control"]
        [jwk] = response.json()["keys"]
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert set(jwk) >= {"kid", "x", "nbf"} and "d" not in jwk

    def test_a_new_key_is_published_before_it_signs_and_the_old_one_verifies_until_its_codes_expire(
        self, app_holder, scanner, api, settings
    ):
        settings.QR_KEY_PUBLISH_LEAD_SECONDS = 120  # inside the holder's access-token lifetime
        old_text = issue_code(app_holder, "identity")
        old_kid = verifier.parse(old_text).kid
        new = keys.signing_key_rotate()
        assert new.state() == "published"
        assert {k["kid"] for k in api.get("/api/v1/scanner/keys").json()["keys"]} == {
            old_kid,
            new.kid,
        }
        assert verifier.parse(issue_code(app_holder, "identity")).kid == old_kid  # still the old one signing
        lead = settings.QR_KEY_PUBLISH_LEAD_SECONDS
        with time_machine.travel(time.time() + lead + 1):
            keys.forget_cached_keys()
            assert verifier.parse(issue_code(app_holder, "identity")).kid == new.kid
            old = SigningKey.objects.get(kid=old_kid)
            assert old.state() == "verifying"
            assert scanner.verdict(old_text)["result"] == "accepted"
        with time_machine.travel(time.time() + lead + 200):
            keys.forget_cached_keys()
            assert SigningKey.objects.get(kid=old_kid).state() == "retired"
            assert {k["kid"] for k in api.get("/api/v1/scanner/keys").json()["keys"]} == {new.kid}

    def test_private_keys_are_never_in_the_database_or_the_api(self, app_holder, api):
        issue_code(app_holder)
        key = SigningKey.objects.get()
        private = keys.private_key(key).private_bytes_raw()
        assert verifier.b64url(private) not in str(api.get("/api/v1/scanner/keys").json())
        assert private.hex() not in str(SigningKey.objects.values())

    def test_private_keys_can_come_from_the_environment(self, app_holder, settings, scanner):
        issue_code(app_holder)
        key = SigningKey.objects.get()
        raw = keys.private_key(key).private_bytes_raw()
        settings.QR_SIGNING_KEYS_DIR = "/nonexistent"
        settings.QR_SIGNING_PRIVATE_KEYS = f"{key.kid}:{verifier.b64url(raw)}"
        from codes.services import reset_caches

        reset_caches()
        assert scanner.verdict(issue_code(app_holder, "identity"))["result"] == "accepted"


class TestMoreReasons:
    def test_a_well_signed_code_for_an_e_card_that_does_not_exist_is_refused(self, app_holder, scanner):
        issue_code(app_holder)  # makes sure a signing key exists
        key = SigningKey.objects.get()
        text = verifier.encode(
            purpose="identity",
            kid=key.kid,
            ecard="ffffffffffffffffffffffff",
            issued_at=int(time.time()),
            lifetime=120,
            nonce=b"\x00" * 8,
            authorised_by_holder=False,
            sign=keys.private_key(key).sign,
        )
        assert scanner.verdict(text)["code"] == "ecard.unknown"

    def test_an_expired_card_is_refused_where_the_city_says_so(self, app_holder, scanner, settings):
        from ecard.models import Card

        text = issue_code(app_holder, "identity")
        Card.objects.filter(pk=app_holder.card.pk).update(
            valid_until=timezone.localdate() - datetime.timedelta(days=1)
        )
        from codes.services import reset_caches

        reset_caches()
        assert scanner.verdict(text)["result"] == "accepted"  # default: usable until replaced
        settings.CARD_EXPIRED_USABLE = False
        assert scanner.verdict(text)["code"] == "card.expired"


class TestVerifyRequestShape:
    def test_the_verify_endpoint_refuses_bad_requests_in_the_one_error_shape(self, scanner):
        api, auth = scanner.api, scanner.auth()
        cases = [
            (
                api.post("/api/v1/scanner/verify", {"code": "x"}, **auth),
                415,
                "request.unsupported_media_type",
            ),
            (
                api.post("/api/v1/scanner/verify", "{nope", content_type="application/json", **auth),
                400,
                "request.malformed",
            ),
            (
                api.post("/api/v1/scanner/verify", {"code": "x" * 20000}, format="json", **auth),
                413,
                "request.too_large",
            ),
            (
                api.post("/api/v1/scanner/verify", {"code": "x", "z": 1}, format="json", **auth),
                400,
                "request.unknown_field",
            ),
            (api.post("/api/v1/scanner/verify", {"code": 5}, format="json", **auth), 400, "request.invalid"),
            (api.post("/api/v1/scanner/verify", [1], format="json", **auth), 400, "request.invalid"),
            (api.get("/api/v1/scanner/verify", **auth), 405, "request.method_not_allowed"),
        ]
        for response, status, code in cases:
            assert (response.status_code, response.json()["code"]) == (status, code)
            assert set(response.json()) >= {"code", "message", "message_en"}

    def test_a_missing_device_token_says_how_to_authenticate(self, scanner):
        response = scanner.api.post("/api/v1/scanner/verify", {"code": "x"}, format="json")
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_a_verification_past_its_deadline_claims_nothing_and_the_code_works_when_scanned_again(
    app_holder, scanner, settings
):
    code = issue_code(app_holder, "payment")
    settings.SCANNER_VERIFY_DEADLINE_SECONDS = -1  # every answer already too late for its scanner
    late = scanner.verify(code)
    assert late.status_code == 503 and late.json()["code"] == "scanner.too_late", late.content
    settings.SCANNER_VERIFY_DEADLINE_SECONDS = 3
    assert scanner.verdict(code)["result"] == "accepted"
    assert scanner.verdict(code)["code"] == "code.replayed"
