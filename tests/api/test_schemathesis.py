"""schemathesis against /api/schema/ for the holder endpoints, signed in with an e-card.

Bounded in examples so it stays quick in `make test`; it asserts no 5xx and that every
response matches the documented status codes, content types and bodies.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from config.wsgi import application
from tests.support import ROOT, transaction_kept_open

# The project's contract (which statuses mean what) is in schemathesis.toml; every check runs.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/?format=json",
    application,
    config=SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml")),
)


FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
FUZZ_AUTH = settings(FUZZ, max_examples=10)


@pytest.fixture
def bearer(app_holder):
    return {"Authorization": f"Bearer {app_holder.tokens['access']}"}


@schema.exclude(path_regex=r"^/api/v1/(auth|scanner)/").parametrize()
@FUZZ
@pytest.mark.django_db
def test_the_holder_api_matches_its_schema_and_never_fails(case, bearer):
    with transaction_kept_open():
        case.call_and_validate(headers=bearer)


# Only by exclusion: schemathesis ORs an include with its own always-matching filter.
@schema.exclude(path_regex=r"^/api/v1/(?!auth/)").parametrize()
@FUZZ_AUTH
@pytest.mark.django_db
def test_the_auth_api_matches_its_schema_and_never_fails(case):
    with transaction_kept_open():
        case.call_and_validate()


@pytest.fixture
def device_bearer(app_holder, scanner, system):
    # Something to find: a revocation entry (so cursors exist) and the holder's codes.
    from ecard import services

    services.card_report_temporary_loss(card=app_holder.card, by=system)
    services.card_lift_loss(card=app_holder.card, by=system)
    return {"Authorization": f"Bearer {scanner.token}"}


@schema.exclude(path_regex=r"^/api/v1/(?!scanner/)").parametrize()
@FUZZ
@pytest.mark.django_db
def test_the_scanner_api_matches_its_schema_and_never_fails(case, device_bearer):
    with transaction_kept_open():
        case.call_and_validate(headers=device_bearer)


def test_the_schema_documents_every_holder_endpoint_and_the_error_shape(client, db):
    document = client.get("/api/schema/?format=json").json()
    paths = set(document["paths"])
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/token/refresh",
        "/api/v1/auth/logout",
        "/api/v1/ecard",
        "/api/v1/ecard/apply",
        "/api/v1/ecard/password",
        "/api/v1/ecard/authorisations",
        "/api/v1/ecard/authorisations/{authorisation_id}",
        "/api/v1/card/loss-report",
        "/api/v1/card/loss-lift",
        "/api/v1/card/enable",
        "/api/v1/card/pin",
        "/api/v1/card/renewal",
        "/api/v1/notices",
        "/api/v1/notices/{notice_id}/read",
    ]:
        assert path in paths, path
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {
        "code",
        "message",
        "message_en",
        "field",
    }
    assert client.get("/api/docs/").status_code == 200


# A signed token whose claims are of the wrong type or out of range: the signature checks, so
# every claim is read. Each gets a JSON 401, never a 500 (before: an HTML 500 on three routes).
ODD_CLAIMS = {
    "exp-string": {"exp": "9999999999"},
    "iat-string": {"iat": "0"},
    "exp-float-huge": {"exp": 1.5e300},
    "iat-bool": {"iat": True},
    "exp-null": {"exp": None, "nbf": "soon"},
    "jti-list": {"jti": ["a", "b"]},
    "aud-number": {"aud": 7},
    "iss-object": {"iss": {"id": "x"}},
}


def signed(key, claims: dict) -> str:
    """A compact EdDSA JWS of any claims, as a client with its own JWT code could send:
    PyJWT itself refuses to encode an ``iss`` that is not a string."""
    import json

    from codes.verifier import b64url

    def part(value):
        return b64url(json.dumps(value, separators=(",", ":")).encode())

    signing_input = f"{part({'alg': 'EdDSA', 'typ': 'JWT'})}.{part(claims)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


@pytest.fixture
def odd_bearer(request, scanner, tmp_path):
    import jwt

    from tests.ecard.services.test_payments import Provider

    provider = Provider(tmp_path)
    # The way in: the same signing with the claims as they should be is let in.
    sound = signed(scanner.key, jwt.decode(scanner.jwt(), options={"verify_signature": False}))
    assert (
        scanner.api.get("/api/v1/scanner/revocations", HTTP_AUTHORIZATION=f"Bearer {sound}").status_code
        == 200
    )
    bearers = {}
    for who, key, token in (
        ("scanner", scanner.key, scanner.jwt()),
        ("provider", provider.key, provider.token()),
    ):
        claims = {**jwt.decode(token, options={"verify_signature": False}), **ODD_CLAIMS[request.param]}
        bearers[who] = {
            "Authorization": f"Bearer {signed(key, {k: v for k, v in claims.items() if v is not None})}"
        }
    return bearers


@schema.exclude(path_regex=r"^/api/v1/(?!scanner/|providers/)").parametrize()
@settings(FUZZ, max_examples=5)
@pytest.mark.parametrize("odd_bearer", sorted(ODD_CLAIMS), indirect=True)
@pytest.mark.django_db
def test_signed_tokens_with_odd_claims_get_the_json_401_on_every_route(case, odd_bearer):
    headers = odd_bearer["provider" if case.path.startswith("/api/v1/providers/") else "scanner"]
    with transaction_kept_open():
        response = case.call_and_validate(headers=headers)
    if case.path not in ("/api/v1/scanner/keys", "/api/v1/scanner/config"):  # published to anyone
        assert response.status_code in (400, 401, 405, 413, 415), (case.path, response.status_code)
