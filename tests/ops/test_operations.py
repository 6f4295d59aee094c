"""Health, readiness, metrics, request ids, and no personal data in the logs."""

import logging

import pytest

from plumbing.observability import _carry_request_id, request_id
from tests.support import ECARD_PASSWORD, PASSWORD, Holder_, issue_code

pytestmark = pytest.mark.django_db


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ready_when_everything_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"


def test_readyz_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["redis"]


def test_readyz_names_the_signing_key_when_none_can_sign(client, settings, tmp_path):
    settings.QR_SIGNING_GENERATE_KEYS = False
    settings.QR_SIGNING_KEYS_DIR = tmp_path / "empty"
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failed"] == ["signing_key"]


def test_metrics_answer_the_scraper_and_nobody_else(client, settings):
    assert client.get("/metrics").status_code == 200  # loopback: the scraper beside the pod
    outside = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert outside.status_code == 404 and outside.json()["code"] == "request.not_found"
    # Through the balancer, the client it names is the one that counts.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 404
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    scraped = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )
    assert scraped.status_code == 200 and b"ecard_http_requests_total" in scraped.content


def test_metrics_count_verifications_by_purpose_and_result(client, app_holder, scanner):
    text = issue_code(app_holder)
    scanner.verdict(text)
    scanner.verdict(text)
    body = client.get("/metrics").content.decode()
    assert 'ecard_verifications_total{purpose="payment",result="accepted"}' in body
    assert 'ecard_verifications_total{purpose="payment",result="rejected"}' in body
    assert "ecard_verify_seconds_bucket" in body and 'ecard_codes_issued_total{purpose="payment"}' in body


def test_a_request_id_is_taken_or_made_and_sent_back(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-123").headers["X-Request-ID"] == "lb-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n").headers["X-Request-ID"]
    assert made != "bad id\n" and len(made) == 32


def test_a_task_queued_in_a_request_carries_its_id():
    headers = {}
    token = request_id.set("req-42")
    try:
        _carry_request_id(headers=headers)
    finally:
        request_id.reset(token)
    assert headers["request_id"] == "req-42"


def test_log_lines_carry_the_request_id(
    client, caplog, app_holder, clerk, django_capture_on_commit_callbacks
):
    from ecard import services
    from ecard.audit import Actor

    caplog.set_level(logging.INFO)
    token = request_id.set("req-abc")  # as the middleware does for a request
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.card_report_formal_loss(card=app_holder.card, by=Actor.staff(clerk))
    finally:
        request_id.reset(token)
    # The notice was delivered by an (eager) task, which logged with the request's id.
    assert any(
        getattr(r, "request_id", None) == "req-abc" for r in caplog.records if r.name == "ecard.notices"
    )


def test_the_holder_journey_logs_no_personal_data(
    api, make_card, make_scanner, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    card = make_card()
    holder = card.holder
    with django_capture_on_commit_callbacks(execute=True):
        app = Holder_(api, card, "13912345678")
        scanner = make_scanner()
        text = issue_code(app)
        scanner.verdict(text)
        scanner.verdict(text)
        app.post("/api/v1/card/pin", {"old_pin": "000000", "new_pin": "802461"})  # a wrong PIN
        app.post("/api/v1/card/pin", {"old_pin": "123456", "new_pin": "802461"})
        app.post("/api/v1/card/loss-report")
        app.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
        )
        api.post("/api/v1/auth/token", {"phone": "13912345678", "password": "wrong"}, format="json")
    logged = "\n".join(record.getMessage() + " " + str(record.__dict__) for record in caplog.records)
    assert caplog.records, "the journey should have logged something"
    for secret in (
        holder.id_number,
        holder.name,
        card.number,
        "13912345678",
        "802461",
        ECARD_PASSWORD,
        PASSWORD,
    ):
        assert secret not in logged, secret


def test_the_dashboard_shows_states_scans_replays_and_quiet_devices(
    client, auditor, app_holder, scanner, make_scanner
):
    text = issue_code(app_holder)
    scanner.verdict(text)
    scanner.verdict(text)
    quiet = make_scanner(organisation="从未上线的闸机")
    client.force_login(auditor)
    page = client.get("/admin/dashboard/").content.decode()
    assert "正常" in page and "就医购药" in page and "拒绝" in page
    assert quiet.device.device_id in page and scanner.device.device_id not in page
    assert "/admin/dashboard/" in client.get("/admin/").content.decode()


def test_the_dashboard_is_for_staff_only(client, app_holder):
    assert client.get("/admin/dashboard/").status_code == 302
