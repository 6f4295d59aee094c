"""Holder accounts and client tokens."""

import base64
import datetime
import json

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.cache import cache
from django.utils import timezone

from accounts import sessions
from accounts.models import User
from tests.support import PASSWORD, register_and_sign_in

pytestmark = pytest.mark.django_db


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def me(api, token):
    """Any authenticated endpoint: an unbound account gets 404, a bad token 401."""
    return api.get("/api/v1/ecard", **bearer(token))


class TestRegister:
    def test_a_holder_registers_with_phone_and_password(self, api):
        response = api.post(
            "/api/v1/auth/register", {"phone": "13800001234", "password": PASSWORD}, format="json"
        )
        assert response.status_code == 201 and response.json() == {"phone_masked": "138****1234"}

    def test_a_weak_password_is_refused_by_djangos_validators(self, api):
        response = api.post(
            "/api/v1/auth/register", {"phone": "13800001234", "password": "12345678"}, format="json"
        )
        assert response.status_code == 422
        assert (
            response.json()["code"] == "account.password_invalid" and response.json()["field"] == "password"
        )

    def test_a_phone_is_registered_once(self, api):
        api.post("/api/v1/auth/register", {"phone": "13800001234", "password": PASSWORD}, format="json")
        response = api.post(
            "/api/v1/auth/register", {"phone": "138 0000 1234", "password": PASSWORD}, format="json"
        )
        assert response.status_code == 409 and response.json()["code"] == "account.phone_taken"

    def test_a_bad_phone_number_is_refused(self, api):
        response = api.post("/api/v1/auth/register", {"phone": "12345", "password": PASSWORD}, format="json")
        assert response.status_code == 400 and response.json()["code"] == "holder.phone_invalid"


class TestTokens:
    def test_sign_in_gives_an_access_and_a_refresh_token(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        assert set(tokens) >= {"access", "refresh"}
        assert me(api, tokens["access"]).json()["code"] == "ecard.not_found"  # signed in, no e-card yet

    def test_a_wrong_password_is_refused(self, api):
        register_and_sign_in(api, "13800001234")
        response = api.post("/api/v1/auth/token", {"phone": "13800001234", "password": "nope"}, format="json")
        assert response.status_code == 401 and response.json()["code"] == "auth.invalid_credentials"
        assert "WWW-Authenticate" in response

    def test_staff_cannot_sign_in_to_the_holder_api(self, api, clerk):
        clerk.phone = "13800009999"
        clerk.username = "13800009999"
        clerk.save()
        response = api.post(
            "/api/v1/auth/token", {"phone": "13800009999", "password": "pw-clerk1"}, format="json"
        )
        assert response.status_code == 401

    def test_no_token_is_401(self, api):
        response = api.get("/api/v1/ecard")
        assert response.status_code == 401 and response.json()["code"] == "auth.not_authenticated"

    def test_the_header_carries_a_key_id_and_the_algorithm_is_eddsa(self, api):
        header = jwt.get_unverified_header(register_and_sign_in(api, "13800001234")["access"])
        assert header["alg"] == "EdDSA" and header["kid"] in sessions.keyring().public_keys

    def test_an_expired_access_token_is_refused(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=16)):
            response = me(api, tokens["access"])
        assert response.status_code == 401 and response.json()["code"] == "auth.token_expired"

    def test_a_token_signed_by_another_key_is_refused(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        claims = jwt.decode(tokens["access"], options={"verify_signature": False})
        kid = jwt.get_unverified_header(tokens["access"])["kid"]
        forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
        assert me(api, forged).json()["code"] == "auth.token_invalid"

    def test_alg_none_is_refused(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        claims = jwt.decode(tokens["access"], options={"verify_signature": False})
        kid = jwt.get_unverified_header(tokens["access"])["kid"]

        def b64(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        unsigned = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64(claims)}."
        assert me(api, unsigned).status_code == 401

    def test_an_hs256_token_keyed_with_the_public_key_is_refused(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        claims = jwt.decode(tokens["access"], options={"verify_signature": False})
        kid = jwt.get_unverified_header(tokens["access"])["kid"]
        public = (
            sessions.keyring()
            .public_keys[kid]
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        confused = jwt.encode(claims, public, algorithm="HS256", headers={"kid": kid})
        assert me(api, confused).json()["code"] == "auth.token_invalid"

    def test_a_refresh_token_is_not_an_access_token(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        assert me(api, tokens["refresh"]).json()["code"] == "auth.token_invalid"

    def test_a_token_from_another_issuer_is_refused(self, api, settings):
        tokens = register_and_sign_in(api, "13800001234")
        settings.AUTH_JWT_ISSUER = "someone-else"
        assert me(api, tokens["access"]).json()["code"] == "auth.token_invalid"


class TestRefresh:
    def test_refresh_rotates_the_token(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        renewed = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").json()
        assert renewed["refresh"] != tokens["refresh"] and me(api, renewed["access"]).status_code == 404

    def test_a_reused_refresh_token_revokes_the_whole_family(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        renewed = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").json()
        replay = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert replay.status_code == 401 and replay.json()["code"] == "auth.token_reused"
        # The thief's and the holder's newer tokens are both dead now.
        again = api.post("/api/v1/auth/token/refresh", {"refresh": renewed["refresh"]}, format="json")
        assert again.json()["code"] == "auth.token_revoked"
        assert me(api, renewed["access"]).json()["code"] == "auth.token_revoked"

    def test_another_session_survives_a_reuse_in_this_one(self, api):
        first = register_and_sign_in(api, "13800001234")
        second = api.post(
            "/api/v1/auth/token", {"phone": "13800001234", "password": PASSWORD}, format="json"
        ).json()
        api.post("/api/v1/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
        api.post("/api/v1/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
        assert me(api, second["access"]).status_code == 404

    def test_an_expired_refresh_token_is_refused(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        with time_machine.travel(timezone.now() + datetime.timedelta(days=31)):
            response = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert response.json()["code"] == "auth.token_expired"

    def test_logout_ends_the_session(self, api):
        tokens = register_and_sign_in(api, "13800001234")
        assert api.post("/api/v1/auth/logout", **bearer(tokens["access"])).status_code == 204
        assert me(api, tokens["access"]).json()["code"] == "auth.token_revoked"
        refresh = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert refresh.json()["code"] == "auth.token_revoked"


class TestKeyRotation:
    def test_a_new_key_signs_and_the_old_one_still_verifies(self, api, settings, tmp_path):
        settings.AUTH_JWT_KEYS_DIR = tmp_path
        old_tokens = register_and_sign_in(api, "13800001234")
        old_kid = jwt.get_unverified_header(old_tokens["access"])["kid"]
        (tmp_path / "0002-next.pem").write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        sessions.keyring.cache_clear()
        new_tokens = api.post(
            "/api/v1/auth/token", {"phone": "13800001234", "password": PASSWORD}, format="json"
        ).json()
        assert jwt.get_unverified_header(new_tokens["access"])["kid"] != old_kid
        assert me(api, old_tokens["access"]).status_code == 404
        assert me(api, new_tokens["access"]).status_code == 404

    def test_without_a_key_and_without_generation_it_refuses_to_sign(self, settings, tmp_path):
        settings.AUTH_JWT_KEYS_DIR = tmp_path / "empty"
        settings.AUTH_JWT_GENERATE_KEYS = False
        with pytest.raises(RuntimeError, match="no client-token signing key"):
            sessions.keyring()


def sign_in_from(api, address, phone, password, forwarded=None, **extra):
    body = {"phone": phone, "password": password, **extra}
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return api.post("/api/v1/auth/token", body, format="json", REMOTE_ADDR=address, **headers)


class TestSignInCountsFailuresNotCrowds:
    """accounts/attempts.py: failures per account and address, per account, per address."""

    def test_five_failures_on_one_account_from_one_address_stop_it_there_correct_password_too(self, api):
        register_and_sign_in(api, "13800001234")
        codes = [sign_in_from(api, "10.0.0.7", "13800001234", "wrong").status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        response = sign_in_from(api, "10.0.0.7", "13800001234", PASSWORD)
        assert response.status_code == 429 and int(response["Retry-After"]) > 0
        assert response.json()["code"] == "request.throttled"
        # The holder at home, on another address, still gets in.
        assert sign_in_from(api, "10.0.0.8", "13800001234", PASSWORD).status_code == 200

    def test_a_guess_spread_over_many_addresses_is_stopped_per_account(self, api):
        register_and_sign_in(api, "13800001234")
        codes = [sign_in_from(api, f"10.1.0.{n}", "13800001234", "wrong").status_code for n in range(11)]
        assert codes == [401] * 10 + [429]

    def test_successes_are_never_counted(self, api):
        register_and_sign_in(api, "13800001234")
        codes = {sign_in_from(api, "10.0.0.7", "13800001234", PASSWORD).status_code for _ in range(150)}
        assert codes == {200}

    def test_another_accounts_failures_never_hold_up_a_correct_password(self, api):
        register_and_sign_in(api, "13800001234")
        register_and_sign_in(api, "13800005678")
        for _ in range(30):
            sign_in_from(api, "10.0.0.7", "13800001234", "wrong")
        assert sign_in_from(api, "10.0.0.7", "13800005678", PASSWORD).status_code == 200

    def test_a_thousand_holders_behind_one_carrier_nat_all_sign_in(self, api):
        """A morning's sign-ins through one carrier-grade NAT: 1,000 accounts, one in twenty
        mistyping once first. Before, the 61st request of the minute locked the city out."""
        from django.contrib.auth.hashers import make_password

        hashed = make_password(PASSWORD)
        User.objects.bulk_create(
            User(username=User.app_username(), phone=f"1370000{n:04d}", password=hashed) for n in range(1000)
        )
        answers = []
        for n in range(1000):
            phone = f"1370000{n:04d}"
            if n % 20 == 0:
                answers.append(sign_in_from(api, "100.64.0.1", phone, "typo").status_code)
            answers.append(sign_in_from(api, "100.64.0.1", phone, PASSWORD).status_code)
        assert answers.count(200) == 1000 and answers.count(401) == 50 and 429 not in answers

    def test_an_address_past_its_failures_must_solve_a_challenge_and_then_gets_in(self, api, settings):
        from accounts import attempts

        settings.SIGNIN_FAILURES_PER_ADDRESS = 20
        settings.SIGNIN_CHALLENGE_BITS = 8
        register_and_sign_in(api, "13800001234")
        for n in range(20):  # one password sprayed over twenty accounts
            assert sign_in_from(api, "10.0.0.9", f"1390000{n:04d}", "123456").status_code == 401
        asked = sign_in_from(api, "10.0.0.9", "13800001234", PASSWORD)
        assert asked.status_code == 429 and asked.json()["code"] == "auth.challenge_required"
        challenge = api.post("/api/v1/auth/challenge", REMOTE_ADDR="10.0.0.9").json()
        nonce = attempts.solve(challenge["challenge"], challenge["bits"])
        wrong = sign_in_from(
            api, "10.0.0.9", "13800001234", PASSWORD, challenge=challenge["challenge"], nonce="x"
        )
        assert wrong.status_code == 429 and wrong.json()["code"] == "auth.challenge_required"
        challenge = api.post("/api/v1/auth/challenge", REMOTE_ADDR="10.0.0.9").json()
        nonce = attempts.solve(challenge["challenge"], challenge["bits"])
        solved = {"challenge": challenge["challenge"], "nonce": nonce}
        assert sign_in_from(api, "10.0.0.9", "13800001234", PASSWORD, **solved).status_code == 200
        again = sign_in_from(api, "10.0.0.9", "13800001234", PASSWORD, **solved)  # used once only
        assert again.status_code == 429 and again.json()["code"] == "auth.challenge_required"

    def test_a_valid_refresh_token_is_never_held_up(self, api, settings):
        settings.SIGNIN_FAILURES_PER_ADDRESS = 5
        tokens = register_and_sign_in(api, "13800001234")
        for _ in range(10):
            bad = api.post("/api/v1/auth/token/refresh", {"refresh": "not-a-token"}, format="json")
            assert bad.status_code in (401, 429)
        assert bad.json()["code"] == "auth.challenge_required"
        fresh = api.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
        assert fresh.status_code == 200

    def test_x_forwarded_for_is_trusted_only_as_far_as_num_proxies_says(self, api, settings):
        register_and_sign_in(api, "13800001234")
        # Nothing trusted: a client writing its own X-Forwarded-For does not get a fresh count.
        for n in range(6):
            sign_in_from(api, "10.0.0.7", "13800001234", "wrong", forwarded=f"1.2.3.{n}")
        spoofed = sign_in_from(api, "10.0.0.7", "13800001234", PASSWORD, forwarded="1.2.3.99")
        assert spoofed.status_code == 429
        # One balancer trusted: its last entry is the client, whatever the client wrote before it.
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
        behind = sign_in_from(api, "10.0.0.7", "13800001234", PASSWORD, forwarded="9.9.9.9, 5.6.7.8")
        assert behind.status_code == 200

    def test_a_request_with_no_client_address_is_counted_not_failed(self, api):
        register_and_sign_in(api, "13800001234")
        body = {"phone": "13800001234", "password": "wrong"}
        response = api.post("/api/v1/auth/token", body, format="json", REMOTE_ADDR=None)
        assert response.status_code == 401 and response.json()["code"] == "auth.invalid_credentials"
        bad = api.post("/api/v1/auth/token/refresh", {"refresh": "x"}, format="json", REMOTE_ADDR=None)
        assert bad.status_code == 401

    def test_with_the_counters_store_down_sign_in_fails_closed(self, api):
        from django.test import override_settings

        register_and_sign_in(api, "13800001234")
        down = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
        with override_settings(CACHES={"default": down}):
            codes = [sign_in_from(api, "10.0.0.7", "13800001234", "wrong").status_code for _ in range(15)]
            response = sign_in_from(api, "10.0.0.7", "13800001234", PASSWORD)
        assert set(codes) == {503}  # before, 15 of 15 answered 401: never 429, the guesser unslowed
        assert response.status_code == 503 and response.json()["code"] == "auth.unavailable"
        assert response["Content-Type"].startswith("application/json")


class TestSecrets:
    def test_pin_guessing_is_throttled_per_account(self, app_holder):
        codes = [
            app_holder.post("/api/v1/card/pin", {"old_pin": "000000", "new_pin": "802461"}).status_code
            for _ in range(11)
        ]
        assert 429 in codes


SPELLINGS = [
    "13912345678",
    "+8613912345678",
    "+86 13912345678",
    "+86 139 1234 5678",
    "+86-139-1234-5678",
    "008613912345678",
    "0086 139 1234 5678",
    "8613912345678",
    "139 1234 5678",
    "139-1234-5678",
    "139.1234.5678",
    "(139) 1234 5678",
    "(+86) 139 1234 5678",
    " 13912345678",
    "13912345678 ",
    "139  1234  5678",
    "139\t1234\t5678",
    "1391-234-5678",
    "+86 (139) 1234-5678",
    "139 12345678",
]


def sign_in(api, phone, password):
    return api.post("/api/v1/auth/token", {"phone": phone, "password": password}, format="json")


class TestPhoneSpellings:
    def test_twenty_spellings_of_one_phone_are_one_account_to_the_sign_in_throttle(self, api):
        assert len(set(SPELLINGS)) == 20
        register = {"phone": "13912345678", "password": PASSWORD}
        assert api.post("/api/v1/auth/register", register, format="json").status_code == 201
        codes = [sign_in(api, spelling, "wrong").status_code for spelling in SPELLINGS]
        # Five failures per account from one address, however the phone was spelled.
        assert codes == [401] * 5 + [429] * 15

    def test_every_spelling_signs_in_to_the_same_account(self, api):
        register_and_sign_in(api, "13912345678")
        for spelling in SPELLINGS[:8]:
            cache.clear()
            assert sign_in(api, spelling, PASSWORD).status_code == 200, spelling

    @pytest.mark.parametrize("phone", ["13８12345678", "１３９１２３４５６７８", "139١٢٣٤٥٦٧٨"])
    @pytest.mark.parametrize("url", ["/api/v1/auth/register", "/api/v1/auth/token"])
    def test_non_ascii_digits_are_refused(self, api, url, phone):
        response = api.post(url, {"phone": phone, "password": PASSWORD}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "request.invalid" and response.json()["field"] == "phone"
        assert not User.objects.filter(username__contains="1").exists()
