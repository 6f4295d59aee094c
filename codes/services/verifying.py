"""Online verification for a scanner, and the scan records it leaves."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from ecard import notices
from ecard.matrix import Verdict, service_verdict
from ecard.models import ApplicationState, CardApplication
from plumbing.errors import DomainError

from .. import keys, verifier
from ..models import ScanRecord
from ..store import RECOVERING, MemoryStore, StoreUnavailable, get_store
from .scanners import Device
from .snapshots import snapshot_get

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Outcome:
    result: str
    code: str | None
    purpose: str | None
    ecard: str | None
    holder: str | None
    authorised_by_holder: bool
    scan_id: str
    presented_by: str | None = None  # a family member's code: who showed it, masked


def _verdict(code: verifier.Code, snapshot: dict | None) -> tuple[str | None, bool]:
    """The refusal reason (None when accepted) from the card's current state, and whether it
    was accepted under a holder authorisation."""
    if snapshot is None:
        return "ecard.unknown", False
    # A server-signed code is dated by the server: one of the second of a password change or
    # before is revoked. A phone-signed code is dated by the phone; its certificate, revoked
    # with every change of the e-card, is what answers for it (below).
    server_signed = code.certificate is None
    if server_signed and code.issued_at < snapshot["password_changed_at"]:
        return "code.revoked", False
    expired = datetime.date.fromisoformat(snapshot["valid_until"]) < timezone.localdate()
    answer = service_verdict(
        purpose=code.purpose,
        state=snapshot["state"],
        pin_locked=snapshot["pin_locked"],
        initial_pin=snapshot.get("initial_pin", False),
        transit_payment_linked=snapshot["transit"],
        expired=expired,
        in_production=snapshot.get("in_production", False),
    )
    authorised = False
    if answer.verdict == Verdict.NEEDS_AUTHORISATION:
        now = time.time()
        authorised = any(
            code.purpose in purposes and expires > now for purposes, expires in snapshot["grants"]
        )
        if not authorised:
            return answer.code, False
    elif answer.verdict != Verdict.ALLOWED:
        return answer.code, False
    if code.certificate is not None and code.certificate.serial not in snapshot.get("certificates", ()):
        return "certificate.revoked", False
    if server_signed and code.issued_at < snapshot.get("revoked_before", 0):
        return "code.revoked", False
    if code.presenter and code.presenter not in snapshot.get("family", {}):
        return "family.consent_ended", False  # the member ended it (or the presenter did)
    return None, authorised


def claim_key(code: verifier.Code, device: Device) -> str | None:
    if code.purpose in verifier.SINGLE_USE:
        return f"ecard:used:{code.nonce}"
    if code.purpose == "transit":
        return f"ecard:used:{code.nonce}:{device.organisation}"
    return None


def _certificate(text: str, device: Device) -> tuple[verifier.Code, str | None, str | None]:
    """A pick-up certificate: our signature (its key may be retired since), then its
    application: good until the new card is collected. (code, refusal, masked holder name)"""
    code, _ = verifier.Verifier(keys.keyset_every_key(), None).signed(text)
    if code.purpose not in device.purposes:
        return code, "code.purpose_not_allowed", None
    application = (
        CardApplication.objects.select_related("holder", "new_card")
        .filter(certificate_reference=code.ecard)
        .first()
    )
    if application is None:
        return code, "certificate.unknown", None
    if application.state in (ApplicationState.WITHDRAWN, ApplicationState.REJECTED):
        return code, "certificate.void", None
    if application.state == ApplicationState.COLLECTED or (
        application.new_card is not None and application.new_card.received_at is not None
    ):
        return code, "certificate.collected", None
    return code, None, application.holder.name_masked


def verify_online(*, device: Device, text: str, deadline: float | None = None) -> Outcome:
    """For a scanner: the offline checks, then the card's current state, then single use.

    ``deadline`` (``time.monotonic()``): past it, nothing is claimed or recorded and
    ``scanner.too_late`` is raised; the scanner that gave up has shown a failure, and a code
    spent for an answer nobody saw would be refused when the holder scans again."""
    parsed = None
    authorised = False
    snapshot = None
    try:
        parsed = keys_verifier().check(text, purposes=device.purposes)
        snapshot = snapshot_get(parsed.ecard)
        reason, authorised = _verdict(parsed, snapshot)
    except verifier.Refusal as refusal:
        reason = refusal.code
        try:
            parsed = parsed or verifier.parse(text)
        except verifier.Refusal:
            parsed = None
        if parsed is not None and parsed.purpose == "certificate":  # judged by its application
            try:
                parsed, reason, holder_name = _certificate(text, device)
                snapshot = {"name": holder_name}
            except verifier.Refusal as certificate_refusal:
                reason = certificate_refusal.code
    scan_id = str(uuid.uuid4())
    record = {
        "id": scan_id,
        "device_id": device.pk,
        "ecard_reference": parsed.ecard if parsed else "",
        "purpose": parsed.purpose if parsed else "",
        "nonce": parsed.nonce if parsed else "",
        "authorised_by_holder": authorised,
        "presenter": (parsed.presenter or "") if parsed else "",
        "scanned_at": timezone.now().isoformat(),
    }
    accepted = {**record, "result": "accepted", "reason": ""}
    if deadline is not None and time.monotonic() > deadline:
        raise DomainError("scanner.too_late")
    store = get_store()
    claim = claim_key(parsed, device) if parsed and reason is None else None
    try:
        if reason is not None:
            store.record({**record, "result": "rejected", "reason": reason, "authorised_by_holder": False})
        elif claim is None or parsed is None:
            store.record(accepted)
        else:
            ttl = parsed.lifetime + 2 * settings.QR_CLOCK_SKEW_SECONDS
            replayed = {**record, "result": "rejected", "reason": "code.replayed", "replay": True}
            issued_at = parsed.issued_at
            claimed = store.record(accepted, claim=claim, ttl=ttl, replayed=replayed, issued_at=issued_at)
            if claimed == RECOVERING:  # rare: the refusal's record costs its own round trip then
                reason, authorised = "store.recovering", False
                store.record({**record, "result": "rejected", "reason": reason})
            elif not claimed:
                reason, authorised = "code.replayed", False
    except StoreUnavailable:
        if claim is not None:
            # Without the single-use store a second scan of this code could not be told
            # apart: refuse rather than accept a possible replay.
            reason, authorised = "store.unavailable", False
        _write_records([{**record, "result": "rejected" if reason else "accepted", "reason": reason or ""}])
    if isinstance(store, MemoryStore):
        scan_records_flush()
    family = (snapshot or {}).get("family", {}).get(parsed.presenter) if parsed and parsed.presenter else None
    if family and not reason and snapshot is not None and parsed is not None and parsed.presenter:
        _tell_member_once_a_day(snapshot["holder"], family["link"], parsed.presenter, family["by"])
    return Outcome(
        result="rejected" if reason else "accepted",
        code=reason,
        purpose=parsed.purpose if parsed else None,
        ecard=parsed.ecard if parsed else None,
        holder=snapshot["name"] if snapshot and not reason else None,
        authorised_by_holder=authorised,
        scan_id=scan_id,
        presented_by=family["by"] if family and not reason else None,
    )


def _tell_member_once_a_day(member_id: int, link_id: str, presenter: str, presented_by: str) -> None:
    """The member hears of the first scan of a family-shown code each day, not of every one."""
    today = timezone.localdate().isoformat()
    if not cache.add(f"family:told:{presenter}:{today}", 1, 24 * 3600):
        return
    try:
        notices.notice_send(
            holder=member_id,
            kind="family.code_used",
            subject=link_id,
            milestone=today,
            params={"presenter": presented_by},
        )
    except Exception:  # never fail a scan for a notice; the usage history has the scan anyway
        log.warning("could not record the family use notice", exc_info=True)


def keys_verifier() -> verifier.Verifier:
    return verifier.Verifier(
        keys.keyset(), None, skew=settings.QR_CLOCK_SKEW_SECONDS, device_lifetimes=settings.QR_LIFETIMES
    )


def _write_records(records: list[dict]) -> None:
    ScanRecord.objects.bulk_create(
        [
            ScanRecord(
                id=r["id"],
                device_id=r["device_id"],
                ecard_reference=r["ecard_reference"],
                purpose=r["purpose"],
                nonce=r["nonce"],
                result=r["result"],
                reason=r.get("reason", ""),
                authorised_by_holder=r.get("authorised_by_holder", False),
                presenter=r.get("presenter", ""),
                replay=r.get("replay", False),
                scanned_at=r["scanned_at"],
            )
            for r in records
        ],
        ignore_conflicts=True,
    )


def scan_records_flush() -> int:
    """Move buffered scan records into the database; safe to run anywhere, any number of times."""
    try:
        return int(get_store().drain(_write_records))
    except StoreUnavailable:
        return 0
