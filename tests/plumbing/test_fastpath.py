"""The scanners' front door (plumbing/fastpath.py): the plain verification skips Django's
request machinery, answers as Django would, and leaves every other request to Django.

Each test sends the same request through the served application and, where it compares,
straight to Django's own handler (``application.app``)."""

import json
import logging

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.urls import resolve

from codes.apis import VerifyApi
from codes.models import ScanRecord
from codes.services import scan_records_flush
from config.wsgi import application
from plumbing import fastpath
from tests.support import issue_code, serve, transaction_kept_open, wsgi_environ

VERIFY = "/api/v1/scanner/verify"


def spy_on_django(monkeypatch, django=None) -> list:
    """The requests the front door hands to Django (``django``: a handler of the test's own)."""
    calls = []
    django = django or application.app

    def spy(environ, start_response):
        calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return django(environ, start_response)

    monkeypatch.setattr(application, "app", spy)
    return calls


@pytest.fixture
def django_calls(monkeypatch):
    return spy_on_django(monkeypatch)


def comparable(response) -> tuple:
    """An answer without what differs from one request to the next."""
    headers = {k: v for k, v in response.header_list if k not in ("X-Request-ID", "Content-Length")}
    body = response.json()
    body.pop("scan_id", None)
    return response.status_code, headers, body


def test_a_plain_verification_never_reaches_django_and_is_accepted(app_holder, scanner, django_calls):
    response = scanner.verify(issue_code(app_holder))
    assert response.status_code == 200
    assert response.json()["result"] == "accepted" and response.json()["holder"] == "张*丰"
    assert django_calls == []


def test_every_front_door_route_stands_in_for_the_view_at_its_path():
    assert application.routes.keys() == {VERIFY}
    assert resolve(VERIFY).func.view_class is VerifyApi


def test_the_front_door_has_been_reviewed_for_every_middleware_django_runs_in_order(settings):
    production_only = {"whitenoise.middleware.WhiteNoiseMiddleware"}
    assert list(settings.MIDDLEWARE) == [m for m in fastpath.STANDS_IN_FOR if m not in production_only]


def test_the_front_door_is_the_one_way_past_djangos_request_machinery():
    # VerifyApi once answered POST in its own dispatch, a second bypass with its own checks.
    assert "dispatch" not in VerifyApi.__dict__
    assert [name for name, route in application.routes.items() if route] == [VERIFY]


@pytest.mark.parametrize("language", ["", "en", "en-GB,en;q=0.8", "zh-CN,zh;q=0.9", "fr"])
def test_the_front_door_answers_what_django_answers_header_for_header(
    app_holder, scanner, make_scanner, language
):
    library = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
    extra = {"Accept-Language": language} if language else {}
    cases = []
    for _ in range(2):  # each case once through each path, on codes of the same kind
        payment, identity = issue_code(app_holder), issue_code(app_holder, "identity")
        cases.append(
            [
                (scanner, payment),  # accepted
                (scanner, payment),  # replayed
                (scanner, identity),  # accepted, any number of times
                (library, issue_code(app_holder)),  # a purpose the device may not take
                (scanner, payment[:-3] + "AAA"),  # damaged
            ]
        )
    fast = [comparable(device.post({"code": code}, **extra)) for device, code in cases[0]]
    slow = [
        comparable(device.post({"code": code}, app=application.app, **extra)) for device, code in cases[1]
    ]
    assert fast == slow
    assert [body["result"] for _, _, body in fast] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
    ]
    assert fast[0][1]["Content-Language"] == ("en" if language.startswith("en") else "zh-hans")


def test_a_lost_cards_refusal_is_the_same_through_both(app_holder, scanner, system):
    from ecard import services

    issued = [issue_code(app_holder) for _ in range(2)]
    services.card_report_temporary_loss(card=app_holder.card, by=system)
    lost = [
        comparable(scanner.post({"code": code}, app=app, **{"Accept-Language": "en"}))
        for code, app in zip(issued, (None, application.app), strict=True)
    ]
    assert lost[0] == lost[1] and lost[0][2]["code"] == "card.temporarily_lost"


BAD_REQUESTS = [
    # (what, body, headers, query, status, code)
    ("no token", {"code": "x"}, {"Authorization": ""}, "", 401, "scanner.unauthenticated"),
    ("a forged token", {"code": "x"}, {"Authorization": "Bearer a.b.c"}, "", 401, "scanner.token_invalid"),
    ("not JSON", b"{nope", {}, "", 400, "request.malformed"),
    ("not UTF-8", b'{"code": "\xff"}', {}, "", 400, "request.malformed"),
    ("an unknown field", {"code": "x", "z": 1}, {}, "", 400, "request.unknown_field"),
    ("a code that is not text", {"code": 5}, {}, "", 400, "request.invalid"),
    ("a list", [1], {}, "", 400, "request.invalid"),
    ("too large", {"code": "x" * 20000}, {}, "", 413, "request.too_large"),
    (
        "form data",
        b"code=x",
        {"Content-Type": "application/x-www-form-urlencoded"},
        "",
        415,
        "request.unsupported_media_type",
    ),
    ("a query", {"code": "x"}, {}, "debug=1", 400, "request.unknown_field"),
]


@pytest.mark.parametrize(
    "what,body,headers,query,status,code", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS]
)
def test_a_refused_request_is_left_to_django_and_answered_in_the_requests_language(
    scanner, django_calls, what, body, headers, query, status, code
):
    response = scanner.post(body, query=query, **{"Accept-Language": "en", **headers})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert django_calls == [("POST", VERIFY)]
    assert (
        response["Content-Language"] == "en" and response.json()["message"] == response.json()["message_en"]
    )
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="ecard-scanner"'
    scan_records_flush()
    assert not ScanRecord.objects.exists()  # nothing was verified, nothing half-written


def test_other_methods_and_a_browser_with_cookies_are_left_to_django(app_holder, scanner, django_calls):
    assert serve("GET", VERIFY, headers={"Authorization": f"Bearer {scanner.token}"}).status_code == 405
    response = scanner.post({"code": issue_code(app_holder)}, Cookie="sessionid=x")
    assert response.json()["result"] == "accepted"
    assert django_calls == [("GET", VERIFY), ("POST", VERIFY)]


def test_a_host_not_allowed_is_refused_by_django(scanner, django_calls):
    response = scanner.post({"code": "x"}, Host="evil.example")
    assert response.status_code == 400 and django_calls == [("POST", VERIFY)]


def test_the_request_id_is_the_load_balancers_when_safe_and_new_otherwise(app_holder, scanner):
    kept = scanner.post({"code": issue_code(app_holder)}, **{"X-Request-ID": "lb-1234.abc"})
    assert kept["X-Request-ID"] == "lb-1234.abc"
    made = scanner.post({"code": issue_code(app_holder)}, **{"X-Request-ID": "no spaces\nor newlines"})
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "lb-1234.abc"


def test_a_deferred_request_keeps_the_one_request_id_in_its_log_lines(scanner, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = scanner.post({"code": "x"}, Authorization="Bearer a.b.c")
    assert response.status_code == 401
    assert [r.request_id for r in caplog.records if r.name == "django.request"] == [response["X-Request-ID"]]


def test_under_production_security_http_is_redirected_and_https_gets_hsts_as_from_django(
    app_holder, scanner, settings, monkeypatch
):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    django = WSGIHandler()  # Django's middleware reads these settings once, when it is loaded
    django_calls = spy_on_django(monkeypatch, django)
    redirected = scanner.post({"code": issue_code(app_holder)})
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    assert django_calls == [("POST", VERIFY)]

    secure = {"X-Forwarded-Proto": "https"}
    fast = scanner.post({"code": issue_code(app_holder)}, **secure)
    slow = scanner.post({"code": issue_code(app_holder)}, app=django, **secure)
    assert django_calls == [("POST", VERIFY)]  # the https one was the front door's
    assert fast["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert comparable(fast) == comparable(slow)


def test_a_failure_inside_the_verification_is_djangos_500_logged_with_the_request_id(
    app_holder, scanner, monkeypatch, caplog
):
    from codes import apis

    texts = [issue_code(app_holder) for _ in range(2)]

    def broken(**kwargs):
        raise RuntimeError("the store exploded")

    monkeypatch.setattr(apis.services, "verify_online", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        fast = scanner.post({"code": texts[0]}, **{"X-Request-ID": "req-500", "Accept-Language": "en"})
    assert fast.status_code == 500 and b"the store exploded" not in fast.content
    assert fast["X-Request-ID"] == "req-500"
    (line,) = [r for r in caplog.records if r.name == "django.request"]
    assert line.request_id == "req-500" and line.exc_info[0] is RuntimeError

    slow = scanner.post({"code": texts[1]}, app=application.app, **{"Accept-Language": "en"})

    def shown(response):
        headers = {k: v for k, v in response.header_list if k not in ("X-Request-ID", "Content-Length")}
        return response.status_code, headers, response.content

    assert shown(fast) == shown(slow)


def test_the_request_ends_when_the_server_closes_the_answer(app_holder, scanner, django_calls):
    text = issue_code(app_holder)
    events = []
    started = lambda sender, **kwargs: events.append(("started", sender.__name__))  # noqa: E731
    finished = lambda sender, **kwargs: events.append(("finished", sender.__name__))  # noqa: E731
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        body = json.dumps({"code": text}).encode()
        headers = {"Authorization": f"Bearer {scanner.token}", "Content-Type": "application/json"}
        environ = wsgi_environ("POST", VERIFY, body, headers=headers)
        with transaction_kept_open():
            answer = application(environ, lambda status, headers: None)
            assert events == [("started", "FastPath")]  # the body is not sent yet
            assert json.loads(b"".join(answer))["result"] == "accepted"
            answer.close()
        assert events == [("started", "FastPath"), ("finished", "FastPath")]
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert django_calls == []


def test_front_door_answers_are_counted_in_the_metrics(app_holder, scanner, client):
    def served_posts() -> float:
        for line in client.get("/metrics").content.decode().splitlines():
            if line.startswith('ecard_http_requests_total{method="POST",status="200"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = served_posts()
    scanner.verify(issue_code(app_holder))
    scanner.verify(issue_code(app_holder))
    assert served_posts() == before + 2
