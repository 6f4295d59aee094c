"""Offline scanning: the embeddable verifier, published keys and revocations, uploads, scan mode."""

import datetime
import time

import pytest
import time_machine
from django.utils import timezone

from codes import verifier
from codes.models import ScanRecord
from codes.services import code_issue
from ecard import services
from ecard.audit import Actor
from ecard.models import ECard
from tests.support import ECARD_PASSWORD, issue_code

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def offline_gate(scanner, *, since=0, revocations=None, max_age=None):
    """What a gate downloads while online: the key set, the revocation deltas, and how old the
    list may grow per purpose (from /scanner/config unless ``max_age`` says otherwise)."""
    if max_age is None:
        config = scanner.api.get("/api/v1/scanner/config", **scanner.auth()).json()
        max_age = config["revocations_max_age_by_purpose"]
    keyset = verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())
    revocations = revocations or verifier.RevocationList()
    while True:
        page = scanner.api.get(
            f"/api/v1/scanner/revocations?since={revocations.cursor}", **scanner.auth()
        ).json()
        revocations.apply(page["jws"], keyset)
        if not page["more"]:
            break
    return verifier.Verifier(keyset, revocations, max_revocation_age=max_age), revocations


class TestOfflineVerifier:
    def test_a_good_code_verifies_with_no_server(self, app_holder, scanner):
        text = issue_code(app_holder, "culture")
        gate, _ = offline_gate(scanner)
        result = gate.verify(text, purposes=["culture"])
        assert result.accepted and result.parsed.purpose == "culture"

    def test_a_payment_code_is_never_accepted_offline(self, app_holder, scanner):
        gate, _ = offline_gate(scanner)
        assert gate.verify(issue_code(app_holder, "payment")).code == "code.online_only"
        assert scanner.verdict(issue_code(app_holder, "payment"))["result"] == "accepted"

    def test_a_code_of_a_card_reported_lost_is_refused_by_the_revocation_list(
        self, app_holder, scanner, system
    ):
        text = issue_code(app_holder, "culture")
        time.sleep(1.05)
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        gate, revocations = offline_gate(scanner)
        assert gate.verify(text).code == "card.temporarily_lost"
        # Lifted: published as such, and the gate forgets the entry.
        services.card_lift_loss(card=app_holder.card, by=system)
        gate, _ = offline_gate(scanner, revocations=revocations)
        assert gate.verify(text).accepted

    def test_a_code_issued_under_authorisation_after_the_loss_passes_offline(
        self, app_holder, scanner, system
    ):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        time.sleep(1.05)
        app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["culture"], "minutes": 5},
        )
        text = issue_code(app_holder, "culture")
        gate, _ = offline_gate(scanner)
        result = gate.verify(text)
        assert result.accepted and result.parsed.authorised_by_holder

    def test_a_password_change_is_one_entry_that_revokes_every_earlier_code(self, app_holder, scanner):
        texts = [issue_code(app_holder, "identity") for _ in range(3)]
        time.sleep(1.05)
        app_holder.post("/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"})
        gate, revocations = offline_gate(scanner)
        assert len(revocations.entries) == 1
        assert {gate.verify(t).code for t in texts} == {"ecard.password_changed"}

    def test_a_stale_revocation_list_refuses_instead_of_accepting_on_old_data(self, app_holder, scanner):
        gate, _ = offline_gate(scanner, max_age={"culture": 600})
        with time_machine.travel(time.time() + 601):
            text = issue_code(app_holder, "culture")
            assert gate.verify(text).code == "revocations.stale"

    def test_a_gate_out_of_touch_degrades_per_purpose_and_never_stops(self, app_holder, make_scanner):
        """Ten minutes without a sync used to stop every code; now each purpose has its own
        limit, published in the config, and every offline verdict says how old the list was."""
        gate_device = make_scanner(
            organisation="国家图书馆", kind="culture", purposes=("identity", "culture")
        )
        config = gate_device.api.get("/api/v1/scanner/config", **gate_device.auth()).json()
        assert config["revocations_max_age_by_purpose"] == {"culture": 86400, "identity": 3600}
        gate, _ = offline_gate(gate_device)
        ecard = ECard.objects.get(card=app_holder.card)

        def shown(purpose):  # what the holder's phone shows then (codes live two minutes)
            return code_issue(ecard=ecard, purpose=purpose, by=Actor.system("tests")).text

        # Ten minutes and one second on: everything still judged offline.
        with time_machine.travel(time.time() + 601):
            assert gate.verify(shown("culture")).accepted and gate.verify(shown("identity")).accepted
            assert 600 < gate.verify(shown("culture")).revocations_age < 700
        # Past an hour: identity falls back to online, culture goes on.
        with time_machine.travel(time.time() + 3700):
            assert gate.verify(shown("culture")).accepted
            refused = gate.verify(shown("identity"))
            assert refused.code == "revocations.stale" and refused.revocations_age > 3600
        with time_machine.travel(time.time() + 86_500):
            assert gate.verify(shown("culture")).code == "revocations.stale"

    def test_an_older_signed_delta_sent_again_does_not_bring_a_lost_card_back(
        self, app_holder, scanner, system
    ):
        keyset = verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())

        def page(since):
            return scanner.api.get(f"/api/v1/scanner/revocations?since={since}", **scanner.auth()).json()

        services.card_report_temporary_loss(card=app_holder.card, by=system)
        services.card_lift_loss(card=app_holder.card, by=system)
        old = page(0)  # lost, then lifted: a genuine delta, signed by the server
        time.sleep(1.05)
        text = issue_code(app_holder, "culture")
        time.sleep(1.05)
        services.card_report_temporary_loss(card=app_holder.card, by=system)  # lost again
        revocations = verifier.RevocationList()
        revocations.apply(page(0)["jws"], keyset)
        gate = verifier.Verifier(keyset, revocations)
        assert gate.verify(text).code == "card.temporarily_lost"
        fetched = revocations.fetched_at
        revocations.apply(old["jws"], keyset)  # replayed by someone on the gate's network
        assert gate.verify(text).code == "card.temporarily_lost"
        assert revocations.fetched_at == fetched  # nor does it make the list look younger

    def test_deltas_are_fetched_by_cursor(self, app_holder, scanner, system, settings):
        _, revocations = offline_gate(scanner)
        cursor = revocations.cursor
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        page = scanner.api.get(f"/api/v1/scanner/revocations?since={cursor}", **scanner.auth()).json()
        payload = revocations.apply(
            page["jws"], verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())
        )
        assert [e["reason"] for e in payload["entries"]] == ["card.temporarily_lost"]
        assert revocations.cursor > cursor

    def test_a_tampered_revocation_list_is_refused(self, app_holder, scanner, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        keyset = verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())
        jws = scanner.api.get("/api/v1/scanner/revocations", **scanner.auth()).json()["jws"]
        head, payload, signature = jws.split(".")
        forged = verifier.b64url(
            verifier.b64url_decode(payload).replace(b"temporarily_lost", b"xxxxxxxxxxxxxxxx")
        )
        with pytest.raises(verifier.Refusal) as refusal:
            verifier.RevocationList().apply(f"{head}.{forged}.{signature}", keyset)
        assert refusal.value.code == "revocations.bad_signature"

    def test_the_revocation_list_needs_a_device(self, api):
        assert api.get("/api/v1/scanner/revocations").status_code == 401


def totals(body: dict) -> dict:
    return {k: body[k] for k in ("created", "duplicates", "replays", "invalid")}


class TestUploads:
    def upload(self, scanner, *texts):
        scans = [{"code": t, "scanned_at": timezone.now().isoformat()} for t in texts]
        response = scanner.api.post(
            "/api/v1/scanner/scans", {"scans": scans}, format="json", **scanner.auth()
        )
        assert response.status_code == 200, response.json()
        return response.json()

    def test_an_upload_retried_counts_once(self, app_holder, scanner):
        text = issue_code(app_holder, "culture")
        assert totals(self.upload(scanner, text)) == {
            "created": 1,
            "duplicates": 0,
            "replays": 0,
            "invalid": 0,
        }
        assert totals(self.upload(scanner, text)) == {
            "created": 0,
            "duplicates": 1,
            "replays": 0,
            "invalid": 0,
        }
        assert ScanRecord.objects.filter(offline=True).count() == 1

    def test_a_code_accepted_offline_by_two_devices_is_flagged_as_a_replay(
        self, app_holder, scanner, make_scanner
    ):
        text = issue_code(app_holder, "culture")
        other = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        self.upload(scanner, text)
        assert self.upload(other, text)["replays"] == 1
        assert list(ScanRecord.objects.values_list("replay", flat=True)) == [True, True]

    def test_a_code_used_online_and_then_uploaded_by_another_device_is_flagged(
        self, app_holder, scanner, make_scanner
    ):
        text = issue_code(app_holder, "culture")
        scanner.verdict(text)
        other = make_scanner(organisation="国家图书馆", kind="culture", purposes=("culture",))
        assert self.upload(other, text)["results"] == [{"index": 0, "result": "replay", "reason": ""}]

    def test_identity_codes_seen_twice_are_not_replays(self, app_holder, scanner, make_scanner):
        text = issue_code(app_holder, "identity")
        self.upload(scanner, text)
        assert self.upload(make_scanner(organisation="人社局"), text)["replays"] == 0

    def test_a_forged_scan_is_answered_invalid_and_stored_nowhere(self, app_holder, scanner):
        text = issue_code(app_holder, "culture")
        body = self.upload(scanner, text[:-4] + "AAAA")
        [result] = body["results"]
        assert result["result"] == "invalid" and result["reason"] in ("code.malformed", "code.bad_signature")
        assert not ScanRecord.objects.exists()


class TestScanMode:
    def open_session(self, scanner, purpose="culture"):
        response = scanner.api.post(
            "/api/v1/scanner/sessions", {"purpose": purpose}, format="json", **scanner.auth()
        )
        assert response.status_code == 201
        return response.json()

    def test_the_holder_confirms_a_terminals_session_once(self, app_holder, scanner):
        session = self.open_session(scanner)
        assert session["qr"].startswith("ECS1:")
        response = app_holder.post(
            "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "password": ECARD_PASSWORD}
        )
        assert response.status_code == 200 and response.json()["status"] == "confirmed"
        status = scanner.api.get(f"/api/v1/scanner/sessions/{session['session']}", **scanner.auth()).json()
        assert status["status"] == "confirmed" and status["holder"] == app_holder.card.holder.name_masked
        again = app_holder.post(
            "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "password": ECARD_PASSWORD}
        )
        assert again.status_code == 409 and again.json()["code"] == "session.already_confirmed"

    def test_a_session_expires_in_two_minutes(self, app_holder, scanner):
        session = self.open_session(scanner)
        with time_machine.travel(timezone.now() + datetime.timedelta(seconds=121)):
            response = app_holder.post(
                "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "password": ECARD_PASSWORD}
            )
        assert response.json()["code"] == "session.expired"

    def test_a_wrong_password_confirms_nothing(self, app_holder, scanner):
        session = self.open_session(scanner)
        response = app_holder.post(
            "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "password": "111222"}
        )
        assert response.json()["code"] == "ecard.password_wrong"
        status = scanner.api.get(f"/api/v1/scanner/sessions/{session['session']}", **scanner.auth()).json()
        assert status["status"] == "pending"

    def test_a_lost_card_confirms_with_a_live_authorisation(self, app_holder, scanner, system):
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        session = self.open_session(scanner)
        refused = app_holder.post(
            "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "password": ECARD_PASSWORD}
        )
        assert refused.json()["code"] == "authorisation.required"
        grant = app_holder.post(
            "/api/v1/ecard/authorisations",
            {"password": ECARD_PASSWORD, "purposes": ["culture"], "minutes": 5},
        ).json()
        body = app_holder.post(
            "/api/v1/scan-sessions/confirm", {"qr": session["qr"], "authorisation": grant["id"]}
        )
        assert body.json()["authorised_by_holder"]

    def test_a_device_opens_sessions_only_for_its_purposes(self, make_scanner):
        library = make_scanner(organisation="首都图书馆", kind="culture", purposes=("culture",))
        response = library.api.post(
            "/api/v1/scanner/sessions", {"purpose": "payment"}, format="json", **library.auth()
        )
        assert response.status_code == 403 and response.json()["code"] == "scanner.purpose_not_allowed"

    def test_another_devices_session_is_not_found(self, scanner, make_scanner):
        session = self.open_session(scanner)
        other = make_scanner()
        assert (
            other.api.get(f"/api/v1/scanner/sessions/{session['session']}", **other.auth()).status_code == 404
        )
