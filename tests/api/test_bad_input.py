"""Bad input and single use everywhere: a 4xx with a code for anything malformed, never a 500;
no code spent twice whichever way it was seen first; one bad scan never blocks an upload."""

import logging
import re

import pytest
from django.utils import timezone

from codes.models import ScanRecord
from codes.services import snapshot_refresh
from ecard.models import ECard
from tests.support import issue_code

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000  # 10 KB, under the body limit


def post_raw(client, url, body, **headers):
    return client.post(url, data=body, content_type="application/json", **headers)


class TestDeepJson:
    def test_the_scanner_endpoints_answer_400(self, scanner):
        for url in ("/api/v1/scanner/verify", "/api/v1/scanner/scans"):
            response = post_raw(scanner.api, url, DEEP, **scanner.auth())
            assert response.status_code == 400, url
            assert response.json()["code"] == "request.malformed"

    def test_a_holder_endpoint_answers_400(self, app_holder):
        response = post_raw(app_holder.api, "/api/v1/codes", DEEP, **app_holder.auth)
        assert response.status_code == 400 and response.json()["code"] == "request.malformed"

    def test_sign_in_answers_400_and_no_throttle_falls_open(self, api, caplog):
        caplog.set_level(logging.WARNING)
        response = post_raw(api, "/api/v1/auth/token", DEEP)
        assert response.status_code == 400 and response.json()["code"] == "request.malformed"
        assert not [r for r in caplog.records if "throttle" in r.getMessage()]


class TestTooLarge:
    @pytest.mark.parametrize("url", ["/api/v1/codes", "/api/v1/card-applications"])
    def test_a_body_past_djangos_upload_limit_gets_the_json_413(self, app_holder, url):
        body = b'{"purpose": "' + b"x" * (3 * 1024 * 1024) + b'"}'
        response = post_raw(app_holder.api, url, body, **app_holder.auth)
        assert response.status_code == 413 and response.json()["code"] == "request.too_large"

    def test_a_form_past_it_too(self, app_holder):
        response = app_holder.api.post(
            "/api/v1/card-applications",
            data=b"a=" + b"x" * (3 * 1024 * 1024),
            content_type="application/x-www-form-urlencoded",
            **app_holder.auth,
        )
        assert response.status_code in (413, 415)
        assert response["Content-Type"].startswith("application/json")


def upload(scanner, *scans):
    response = scanner.api.post(
        "/api/v1/scanner/scans", {"scans": list(scans)}, format="json", **scanner.auth()
    )
    assert response.status_code == 200, response.json()
    return response.json()


def scan(text, **extra):
    return {"code": text, "scanned_at": timezone.now().isoformat(), **extra}


def link_transit(app_holder):
    ecard = ECard.objects.get(card=app_holder.card)
    ECard.objects.filter(pk=ecard.pk).update(transit_payment_method="bank:test")
    snapshot_refresh(ecard.reference)


class TestSingleUseWhicheverComesFirst:
    def test_a_payment_code_a_device_reports_as_shown_offline_is_burnt(
        self, app_holder, scanner, make_scanner
    ):
        assert scanner.verdict(issue_code(app_holder, "payment"))["result"] == "accepted"  # the way in
        text = issue_code(app_holder, "payment")
        body = upload(scanner, scan(text, result="rejected", reason="code.online_only"))
        assert body["results"] == [{"index": 0, "result": "invalid", "reason": "code.online_only"}]
        assert not ScanRecord.objects.filter(offline=True).exists()
        # Seen by a device it should never have reached: whoever saw it may send it on, so it
        # is spent now rather than settle later for someone else.
        pharmacy = make_scanner(organisation="同仁堂", kind="medical", purposes=("payment",))
        assert pharmacy.verdict(text)["code"] == "code.replayed"

    def test_a_culture_code_uploaded_as_accepted_is_a_replay_online(self, app_holder, scanner, make_scanner):
        text = issue_code(app_holder, "culture")
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        assert upload(gate, scan(text))["created"] == 1
        assert scanner.verdict(text)["code"] == "code.replayed"

    def test_a_code_the_gate_rejected_offline_is_not_spent(self, app_holder, scanner, make_scanner):
        text = issue_code(app_holder, "culture")
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        upload(gate, scan(text, result="rejected", reason="revocations.stale"))
        assert scanner.verdict(text)["result"] == "accepted"

    def test_a_transit_code_is_spent_once_per_operator(self, app_holder, make_scanner):
        link_transit(app_holder)
        text = issue_code(app_holder, "transit")
        metro = make_scanner(organisation="北京地铁", kind="transit_gate", purposes=("transit",))
        bus = make_scanner(organisation="北京公交", kind="transit_gate", purposes=("transit",))
        upload(metro, scan(text))
        assert (
            make_scanner(organisation="北京地铁", purposes=("transit",)).verdict(text)["code"]
            == "code.replayed"
        )
        assert bus.verdict(text)["result"] == "accepted"

    def test_an_online_accept_then_an_upload_is_flagged(self, app_holder, scanner, make_scanner):
        text = issue_code(app_holder, "culture")
        assert scanner.verdict(text)["result"] == "accepted"
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        assert upload(gate, scan(text))["results"][0]["result"] == "replay"

    def test_with_the_store_down_an_upload_is_refused_whole_and_can_be_sent_again(
        self, app_holder, make_scanner, private_redis
    ):
        text = issue_code(app_holder, "culture")
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        private_redis.kill()
        private_redis.wait()
        response = gate.api.post(
            "/api/v1/scanner/scans", {"scans": [scan(text)]}, format="json", **gate.auth()
        )
        assert response.status_code == 503 and response.json()["code"] == "store.unavailable"
        assert not ScanRecord.objects.filter(offline=True).exists()


class TestOneBadScan:
    def test_every_good_scan_is_stored_and_each_bad_one_answered(self, app_holder, make_scanner):
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture", "identity"))
        good, other = issue_code(app_holder, "culture"), issue_code(app_holder, "identity")
        body = upload(
            gate,
            scan(good),
            {"code": good},  # no scanned_at
            "not a scan",
            scan(other, colour="red"),  # unknown field
            scan(issue_code(app_holder, "payment")),
            scan("EC1:NOT-A-CODE"),
            scan(other),
            scan(good),
        )
        assert [(r["index"], r["result"], r["reason"]) for r in body["results"]] == [
            (0, "created", ""),
            (1, "invalid", "request.invalid"),
            (2, "invalid", "request.invalid"),
            (3, "invalid", "request.unknown_field"),
            (4, "invalid", "code.online_only"),
            (5, "invalid", "code.malformed"),
            (6, "created", ""),
            (7, "duplicate", ""),
        ]
        assert body["results"][1]["field"] == "scanned_at"
        assert (body["created"], body["duplicates"], body["replays"], body["invalid"]) == (2, 1, 0, 5)
        assert ScanRecord.objects.filter(offline=True).count() == 2

    def test_a_batch_that_is_not_a_list_of_scans_is_400(self, scanner):
        for body in ({"scans": "x"}, {"scans": [{}] * 501}, {"scan": []}):
            response = scanner.api.post("/api/v1/scanner/scans", body, format="json", **scanner.auth())
            assert response.status_code == 400, body


class TestScannerConfig:
    def test_a_scanner_gets_what_it_must_know_offline(self, make_scanner, settings):
        gate = make_scanner(organisation="国家图书馆", kind="culture", purposes=("identity", "culture"))
        response = gate.api.get("/api/v1/scanner/config", **gate.auth())
        assert response.status_code == 200
        assert response.json() == {
            "device_id": gate.device.device_id,
            "purposes": ["culture", "identity"],
            "lifetimes": {"culture": 120, "identity": 120},
            "clock_skew_seconds": settings.QR_CLOCK_SKEW_SECONDS,
            "revocations_max_age_seconds": 3600,
            "revocations_max_age_by_purpose": {"culture": 86400, "identity": 3600},
            "cursor": 0,
        }

    def test_the_config_needs_a_device(self, api):
        response = api.get("/api/v1/scanner/config")
        assert response.status_code == 401 and response.json()["code"] == "scanner.unauthenticated"

    def test_a_cursor_beyond_the_newest_entry_is_refused(self, app_holder, scanner, system):
        from ecard import services

        services.card_report_temporary_loss(card=app_holder.card, by=system)
        cursor = scanner.api.get("/api/v1/scanner/config", **scanner.auth()).json()["cursor"]
        assert cursor > 0
        assert (
            scanner.api.get(f"/api/v1/scanner/revocations?since={cursor}", **scanner.auth()).status_code
            == 200
        )
        ahead = scanner.api.get(f"/api/v1/scanner/revocations?since={cursor + 1}", **scanner.auth())
        assert ahead.status_code == 400 and ahead.json()["code"] == "revocations.cursor_ahead"


CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


class TestEnglishIsEnglish:
    @pytest.mark.parametrize(
        "body",
        [
            {"phone": "13900001111"},  # password missing
            {"phone": "13900001111", "password": {"a": 1}},  # not a string
            {"phone": ["13900001111"], "password": "s3cure-Passw0rd"},
            {"phone": "13900001111", "password": "x" * 200},  # too long
            {"phone": "13900001111", "password": "123"},  # the password validators
        ],
    )
    def test_field_errors_are_worded_in_english_for_message_en(self, api, body):
        response = api.post("/api/v1/auth/register", body, format="json")
        assert response.status_code in (400, 422)  # malformed; or well-formed, refused by a rule
        error = response.json()
        assert not CJK.search(error["message_en"]), error["message_en"]
        assert CJK.search(error["message"]), error["message"]

    def test_a_choice_error_in_a_signed_in_request(self, app_holder):
        error = app_holder.post("/api/v1/codes", {"purpose": "lottery"}).json()
        assert error["code"] == "request.invalid" and error["field"] == "purpose"
        assert not CJK.search(error["message_en"]) and "lottery" in error["message_en"]

    def test_every_catalogue_entry_has_an_english_text(self):
        from django.utils import translation

        from plumbing.errors import CATALOGUE

        with translation.override("en"):
            assert [code for code, (_, message) in CATALOGUE.items() if CJK.search(str(message))] == []

    def test_message_follows_the_request_language_and_message_en_stays_english(self, api):
        response = api.post("/api/v1/auth/token", {"phone": 1}, format="json", HTTP_ACCEPT_LANGUAGE="en")
        error = response.json()
        assert response.status_code == 400 and error["message"] == error["message_en"]
        assert not CJK.search(error["message"])


class TestTheSchemaSaysWhatTheServerEnforces:
    def schema(self, client):
        return client.get("/api/schema/?format=json").json()

    def test_the_idempotency_key_declares_its_length_and_pattern_and_the_server_keeps_to_it(
        self, client, app_holder
    ):
        document = self.schema(client)
        [header] = [
            p
            for p in document["paths"]["/api/v1/card/loss-report"]["post"]["parameters"]
            if p["name"] == "Idempotency-Key"
        ]
        assert header["schema"] == {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[!-~]{1,128}$",
        }
        for key in ("a b", "x" * 129, "键"):
            response = app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY=key)
            assert response.status_code == 400 and response.json()["field"] == "Idempotency-Key", key
        assert app_holder.post("/api/v1/card/loss-report", HTTP_IDEMPOTENCY_KEY="k-1").status_code == 200

    def test_strict_bodies_declare_no_additional_properties(self, client):
        schemas = self.schema(client)["components"]["schemas"]
        requests = {name: s for name, s in schemas.items() if name.endswith("Request")}
        assert "VerifyInRequest" in requests and "CredentialsInRequest" in requests
        assert {name for name, s in requests.items() if s.get("additionalProperties") is not False} == set()

    @pytest.mark.parametrize("query", ["page_size=null", "page=", "page=0", "page_size=101", "page=１"])
    def test_bad_page_parameters_are_400(self, app_holder, query):
        response = app_holder.get(f"/api/v1/notices?{query}")
        assert response.status_code == 400 and response.json()["code"] == "request.invalid"
        assert response.json()["field"] in ("page", "page_size")

    def test_good_page_parameters_work(self, app_holder):
        assert app_holder.get("/api/v1/notices?page=1&page_size=100").status_code == 200

    def test_an_unknown_query_parameter_is_refused_not_ignored(self, app_holder, scanner):
        response = app_holder.get("/api/v1/ecard?wrad=x")
        assert response.status_code == 400 and response.json()["code"] == "request.unknown_field"
        verify = scanner.api.post(
            "/api/v1/scanner/verify?debug=1", {"code": "x"}, format="json", **scanner.auth()
        )
        assert verify.status_code == 400 and verify.json()["field"] == "debug"

    def test_an_empty_or_malformed_ward_is_400_not_the_holders_own_card(self, app_holder):
        for query in ("ward=", "ward=not-a-uuid"):
            response = app_holder.post(f"/api/v1/card/loss-report?{query}")
            assert response.status_code == 400 and response.json()["field"] == "ward", query
        assert app_holder.get("/api/v1/ecard").json()["card"]["state"] == "active"


class TestOddAcceptHeaders:
    def test_an_accept_header_naming_nothing_we_render_is_answered_in_json(self, app_holder):
        plain = app_holder.get("/api/v1/family")
        assert plain.status_code == 200
        odd = app_holder.get("/api/v1/family", HTTP_ACCEPT="<;FWFWD<%gdl?+4^")
        assert (odd.status_code, odd["Content-Type"]) == (200, "application/json")
        assert odd.json() == plain.json()

    def test_an_explicit_format_that_is_not_offered_is_still_refused(self, app_holder):
        assert app_holder.get("/api/v1/family?format=xml").status_code == 404
