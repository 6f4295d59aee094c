"""Issuing QR codes, scanners, verification, revocations, offline uploads and scan mode."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import logging
import math
import secrets
import threading
import time
import uuid

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ecard.audit import Actor, audit_record
from ecard.errors import DomainError
from ecard.matrix import Verdict, card_services, service_verdict
from ecard.models import Card, CardState, ECard, HolderAuthorisation

from . import keys, verifier
from .models import Revocation, ScannerDevice, ScanRecord, ScanSession
from .store import MemoryStore, StoreUnavailable, get_store

log = logging.getLogger(__name__)

SCANNER_AUDIENCE = "ecard:scanner"
SNAPSHOT_TTL = 60


def _lifetime(purpose: str) -> int:
    return settings.QR_LIFETIMES[purpose]


def _live_grant(ecard: ECard, purpose: str, now=None) -> HolderAuthorisation | None:
    now = now or timezone.now()
    grants = HolderAuthorisation.objects.filter(ecard=ecard, ended_at__isnull=True, expires_at__gt=now)
    return next((g for g in grants if purpose in g.purposes), None)


# --------------------------------------------------------------------------- issuing


@dataclasses.dataclass(frozen=True)
class IssuedCode:
    text: str
    purpose: str
    expires_at: datetime.datetime
    authorised_by_holder: bool
    verdict: str  # the matrix verdict the code was issued under


def code_issue(*, ecard: ECard, purpose: str, by: Actor) -> IssuedCode:
    """Sign a code for a purpose the service matrix allows now (or under a live authorisation).

    The card row is locked while the rule is checked and the issue time taken, so a loss
    report racing this either comes first (and the code is refused) or after (and the
    code's issue time is before the loss, which revokes it).
    """
    key = keys.signing_key_current()
    private = keys.private_key(key.kid)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=ecard.card_id)
        answer = card_services(card)[purpose]
        authorised = False
        if answer.verdict == Verdict.NEEDS_AUTHORISATION:
            if _live_grant(ecard, purpose) is None:
                raise DomainError("authorisation.required", purpose=purpose)
            authorised = True
        elif answer.verdict == Verdict.DENIED:
            raise DomainError(answer.code)
        issued_at = int(time.time())
    lifetime = _lifetime(purpose)
    text = verifier.encode(
        purpose=purpose,
        kid=key.kid,
        ecard=ecard.reference,
        issued_at=issued_at,
        lifetime=lifetime,
        nonce=secrets.token_bytes(8),
        authorised_by_holder=authorised,
        sign=lambda body: verifier.ALGORITHMS[key.algorithm].sign(private, body),
    )
    expires = datetime.datetime.fromtimestamp(issued_at + lifetime, tz=datetime.UTC)
    return IssuedCode(text, purpose, expires, authorised, answer.verdict)


# --------------------------------------------------------------------------- revocations


def _ecard_reference(card: Card) -> str | None:
    return ECard.objects.filter(card=card).values_list("reference", flat=True).first()


def card_changed(card: Card, *, before: str = "", after: str = "") -> None:
    """Called by the lifecycle services inside their transaction whenever a card changes."""
    reference = _ecard_reference(card)
    if reference is None:
        return
    now = timezone.now()
    if after in (CardState.TEMPORARILY_LOST, CardState.LOST, CardState.CANCELLED) and before != after:
        Revocation.objects.create(ecard_reference=reference, not_before=now, reason=f"card.{after}")
    elif after == CardState.ACTIVE and before == CardState.TEMPORARILY_LOST:
        Revocation.objects.create(
            ecard_reference=reference, not_before=now, reason="card.loss_lifted", lifted=True
        )
    transaction.on_commit(lambda: snapshot_refresh(reference))


def ecard_changed(ecard: ECard, *, revoke_reason: str | None = None) -> None:
    """An e-card's password or authorisations changed: revoke earlier codes if asked."""
    if revoke_reason:
        Revocation.objects.create(
            ecard_reference=ecard.reference, not_before=timezone.now(), reason=revoke_reason
        )
    reference = ecard.reference
    transaction.on_commit(lambda: snapshot_refresh(reference))


def revocations_since(cursor: int, *, limit: int = 1000) -> tuple[list[dict], int, bool]:
    rows = list(Revocation.objects.filter(pk__gt=cursor).order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {
            "ecard": row.ecard_reference,
            # Rounded up: a code issued in the same second as the revocation is refused.
            "not_before": math.ceil(row.not_before.timestamp()),
            "reason": row.reason,
            "lifted": row.lifted,
        }
        for row in rows
    ]
    return entries, (rows[-1].pk if rows else cursor), more


@dataclasses.dataclass(frozen=True)
class RevocationPage:
    jws: str
    cursor: int
    more: bool


def revocations_page(*, since: int) -> RevocationPage:
    """The signed delta after ``since``, signed with the current QR signing key."""
    entries, cursor, more = revocations_since(since)
    key = keys.signing_key_current()
    payload = {
        "iss": "ecard",
        "aud": SCANNER_AUDIENCE,
        "iat": int(time.time()),
        "since": since,
        "cursor": cursor,
        "more": more,
        "entries": entries,
    }
    jws = jwt.encode(payload, keys.private_key(key.kid), algorithm="EdDSA", headers={"kid": key.kid})
    return RevocationPage(jws, cursor, more)


# --------------------------------------------------------------------------- card snapshots


def _snapshot_from_db(reference: str) -> dict | None:
    ecard = ECard.objects.select_related("card__holder").filter(reference=reference).first()
    if ecard is None:
        return None
    card = ecard.card
    grants = HolderAuthorisation.objects.filter(
        ecard=ecard, ended_at__isnull=True, expires_at__gt=timezone.now()
    )
    return {
        "state": card.state,
        "pin_locked": card.pin_locked,
        "transit": bool(ecard.transit_payment_method),
        "valid_until": card.valid_until.isoformat(),
        "password_changed_at": ecard.password_changed_at.timestamp(),
        "grants": [[g.purposes, g.expires_at.timestamp()] for g in grants],
        "name": card.holder.name_masked,
    }


# Each process keeps the snapshots it used for a moment, evicted by the lifecycle services
# through Redis pub/sub: the verify hot path then reads no card state at all in the steady
# state. The lifetime bounds how stale a copy can be if an eviction is ever missed.
_local_snapshots: dict[str, tuple[float, dict]] = {}
_listener_generation = 0
_listening = 0


def _forget_local(reference: str) -> None:
    _local_snapshots.pop(reference, None)


def _listen() -> None:
    global _listening
    with _lock:
        if _listening != _listener_generation + 1:
            _listening = generation = _listener_generation + 1
            get_store().listen_for_changes(
                _forget_local, _local_snapshots.clear, lambda: _listening == generation
            )


def snapshot_get(reference: str) -> dict | None:
    local = _local_snapshots.get(reference)
    if local is not None and time.monotonic() - local[0] < settings.QR_SNAPSHOT_LOCAL_SECONDS:
        return local[1]
    if _listening != _listener_generation + 1:
        _listen()
    store = get_store()
    try:
        snapshot = store.snapshot_get(reference)
    except StoreUnavailable:
        return _snapshot_from_db(reference)
    if snapshot is not None:
        # Only a copy read from the shared store is kept here: one read from the database
        # may predate a change whose eviction message already went by.
        _local_snapshots[reference] = (time.monotonic(), snapshot)
        return snapshot
    snapshot = _snapshot_from_db(reference)
    if snapshot is not None:
        try:
            store.snapshot_fill(reference, snapshot, SNAPSHOT_TTL)
        except StoreUnavailable:
            pass
    return snapshot


def snapshot_refresh(reference: str) -> None:
    """After a change commits: the fresh state for everyone, and every process drops its copy."""
    _forget_local(reference)
    try:
        get_store().snapshot_replace(reference, _snapshot_from_db(reference), SNAPSHOT_TTL)
    except StoreUnavailable:
        # While Redis is unreachable nobody reads the shared copy; if it comes back with the
        # old copy still in it, SNAPSHOT_TTL bounds how long that copy lives.
        log.warning("could not refresh the card snapshot of an e-card: store unavailable")


# --------------------------------------------------------------------------- scanners


@dataclasses.dataclass(frozen=True)
class Device:
    pk: int
    device_id: str
    organisation: str
    purposes: frozenset
    enabled: bool
    public_key: object


def _load_public_key(text: str):
    """An Ed25519 public key from PEM or from raw base64 / base64url (32 bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key
        raw = verifier.b64url_decode(text.replace("+", "-").replace("/", "_").rstrip("="))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError):
        raise DomainError("scanner.public_key_invalid", field="public_key") from None


def _public_key_text(key) -> str:
    return verifier.b64url(verifier.ALGORITHMS["Ed25519"].public_raw(key))


def scanner_register(
    *, organisation: str, kind: str, purposes: list[str], public_key: str, by: Actor
) -> ScannerDevice:
    from .models import ScannerKind

    if kind not in ScannerKind.values:
        raise DomainError("scanner.kind_invalid", field="kind")
    if not purposes or any(p not in verifier.PURPOSE_CODES for p in purposes):
        raise DomainError("scanner.purposes_invalid", field="purposes")
    if not (organisation or "").strip():
        raise DomainError("scanner.organisation_required", field="organisation")
    key = _load_public_key(public_key)
    device = ScannerDevice.objects.create(
        device_id="dev_" + secrets.token_hex(8),
        organisation=organisation.strip(),
        kind=kind,
        purposes=sorted(set(purposes)),
        public_key=_public_key_text(key),
    )
    audit_record(
        action="scanner.registered",
        by=by,
        data={"device": device.device_id, "purposes": device.purposes},
    )
    return device


def _device_changed(device: ScannerDevice, action: str, by: Actor) -> ScannerDevice:
    audit_record(action=action, by=by, data={"device": device.device_id})
    _devices.pop(device.device_id, None)
    for token, (device_id, _) in list(_assertions.items()):
        if device_id == device.device_id:
            _assertions.pop(token, None)
    return device


def scanner_set_enabled(*, device: ScannerDevice, enabled: bool, by: Actor) -> ScannerDevice:
    device.enabled = enabled
    device.save(update_fields=["enabled"])
    return _device_changed(device, "scanner.enabled" if enabled else "scanner.disabled", by)


def scanner_rotate_key(*, device: ScannerDevice, public_key: str, by: Actor) -> ScannerDevice:
    device.public_key = _public_key_text(_load_public_key(public_key))
    device.save(update_fields=["public_key"])
    return _device_changed(device, "scanner.key_rotated", by)


# Verified device assertions by token until they expire, and device state for a moment:
# the hot path then checks no signature and reads no row for a device it has just seen.
# Another process sees a disabled device within SCANNER_STATE_CACHE_SECONDS.
_assertions: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()
_devices: dict[str, tuple[float, Device]] = {}
_seen: dict[str, float] = {}
_lock = threading.Lock()


def reset_caches() -> None:
    """Forget every per-process cache (tests; a settings change)."""
    from .store import reset_store

    global _listener_generation
    _listener_generation += 1  # running listeners see they are stale and stop
    _local_snapshots.clear()
    _assertions.clear()
    _devices.clear()
    _seen.clear()
    keys.forget_cached_keys()
    reset_store()


def _device(device_id: str) -> Device | None:
    cached = _devices.get(device_id)
    if cached and time.monotonic() - cached[0] < settings.SCANNER_STATE_CACHE_SECONDS:
        return cached[1]
    row = ScannerDevice.objects.filter(device_id=device_id).first()
    if row is None:
        return None
    device = Device(
        row.pk,
        row.device_id,
        row.organisation,
        frozenset(row.purposes),
        row.enabled,
        _load_public_key(row.public_key),
    )
    _devices[device_id] = (time.monotonic(), device)
    return device


def scanner_authenticate(token: str) -> Device:
    now = time.time()
    hit = _assertions.get(token)
    if hit is not None and hit[1] > now:
        device = _device(hit[0])
    else:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            device = _device(str(unverified.get("iss", "")))
            if device is None:
                raise DomainError("scanner.token_invalid")
            claims = jwt.decode(
                token,
                device.public_key,
                algorithms=["EdDSA"],
                audience=SCANNER_AUDIENCE,
                issuer=device.device_id,
                options={"require": ["exp", "iat", "iss", "aud", "jti"]},
                leeway=settings.QR_CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise DomainError("scanner.token_expired") from None
        except jwt.PyJWTError:
            raise DomainError("scanner.token_invalid") from None
        if claims["exp"] - claims["iat"] > settings.SCANNER_ASSERTION_MAX_SECONDS:
            raise DomainError("scanner.token_invalid")
        with _lock:
            _assertions[token] = (device.device_id, claims["exp"])
            while len(_assertions) > 10000:
                _assertions.popitem(last=False)
    if device is None:
        raise DomainError("scanner.token_invalid")
    if not device.enabled:
        raise DomainError("scanner.disabled")
    if now - _seen.get(device.device_id, 0) > 60:
        _seen[device.device_id] = now
        ScannerDevice.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())
    return device


# --------------------------------------------------------------------------- verifying


@dataclasses.dataclass(frozen=True)
class Outcome:
    result: str
    code: str | None
    purpose: str | None
    ecard: str | None
    holder: str | None
    authorised_by_holder: bool
    scan_id: str


def _verdict(code: verifier.Code, snapshot: dict | None) -> tuple[str | None, bool]:
    """The refusal reason (None when accepted) from the card's current state, and whether it
    was accepted under a holder authorisation."""
    if snapshot is None:
        return "ecard.unknown", False
    if code.issued_at < int(snapshot["password_changed_at"]):
        return "code.revoked", False
    expired = datetime.date.fromisoformat(snapshot["valid_until"]) < timezone.localdate()
    answer = service_verdict(
        purpose=code.purpose,
        state=snapshot["state"],
        pin_locked=snapshot["pin_locked"],
        transit_payment_linked=snapshot["transit"],
        expired=expired,
    )
    if answer.verdict == Verdict.ALLOWED:
        return None, False
    if answer.verdict == Verdict.NEEDS_AUTHORISATION:
        now = time.time()
        if any(code.purpose in purposes and expires > now for purposes, expires in snapshot["grants"]):
            return None, True
        return answer.code, False
    return answer.code, False


def _claim_key(code: verifier.Code, device: Device) -> str | None:
    if code.purpose in verifier.SINGLE_USE:
        return f"ecard:used:{code.nonce}"
    if code.purpose == "transit":
        return f"ecard:used:{code.nonce}:{device.organisation}"
    return None


def verify_online(*, device: Device, text: str) -> Outcome:
    """For a scanner: the offline checks, then the card's current state, then single use."""
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
    scan_id = str(uuid.uuid4())
    record = {
        "id": scan_id,
        "device_id": device.pk,
        "ecard_reference": parsed.ecard if parsed else "",
        "purpose": parsed.purpose if parsed else "",
        "nonce": parsed.nonce if parsed else "",
        "authorised_by_holder": authorised,
        "scanned_at": timezone.now().isoformat(),
    }
    accepted = {**record, "result": "accepted", "reason": ""}
    store = get_store()
    claim = _claim_key(parsed, device) if parsed and reason is None else None
    try:
        if reason is not None:
            store.record({**record, "result": "rejected", "reason": reason, "authorised_by_holder": False})
        elif claim is None:
            store.record(accepted)
        else:
            ttl = parsed.lifetime + 2 * settings.QR_CLOCK_SKEW_SECONDS
            replayed = {**record, "result": "rejected", "reason": "code.replayed", "replay": True}
            if not store.record(accepted, claim=claim, ttl=ttl, replayed=replayed):
                reason, authorised = "code.replayed", False
    except StoreUnavailable:
        if claim is not None:
            # Without the single-use store a second scan of this code could not be told
            # apart: refuse rather than accept a possible replay.
            reason, authorised = "store.unavailable", False
        _write_records([{**record, "result": "rejected" if reason else "accepted", "reason": reason or ""}])
    if isinstance(store, MemoryStore):
        scan_records_flush()
    return Outcome(
        result="rejected" if reason else "accepted",
        code=reason,
        purpose=parsed.purpose if parsed else None,
        ecard=parsed.ecard if parsed else None,
        holder=snapshot["name"] if snapshot and not reason else None,
        authorised_by_holder=authorised,
        scan_id=scan_id,
    )


def keys_verifier() -> verifier.Verifier:
    return verifier.Verifier(keys.keyset(), None, skew=settings.QR_CLOCK_SKEW_SECONDS)


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
        return get_store().drain(_write_records)
    except StoreUnavailable:
        return 0


# --------------------------------------------------------------------------- offline uploads


def scans_upload(*, device: Device, items: list[dict]) -> dict:
    """Scans an offline device accepted: recorded once per (device, nonce), replays flagged."""
    created = duplicates = replays = 0
    for item in items:
        try:
            # Signed by a key of ours; its time was the device's to judge, offline.
            code, _ = keys_verifier().signed(item["code"])
        except verifier.Refusal as refusal:
            raise DomainError("scanner.upload_invalid", field="scans", reason=refusal.code) from None
        with transaction.atomic():
            if ScanRecord.objects.filter(device_id=device.pk, nonce=code.nonce, offline=True).exists():
                duplicates += 1
                continue
            others = ScanRecord.objects.select_for_update().filter(
                Q(nonce=code.nonce), Q(result="accepted") | Q(offline=True)
            )
            if code.purpose == "transit":
                others = others.filter(device__organisation=device.organisation)
            replay = code.purpose != "identity" and others.exists()
            if replay:
                replays += 1
                others.update(replay=True)
            ScanRecord.objects.create(
                device_id=device.pk,
                ecard_reference=code.ecard,
                purpose=code.purpose,
                nonce=code.nonce,
                result=item.get("result", "accepted"),
                reason=item.get("reason", ""),
                authorised_by_holder=code.authorised_by_holder,
                offline=True,
                replay=replay,
                scanned_at=item["scanned_at"],
            )
            created += 1
    return {"created": created, "duplicates": duplicates, "replays": replays}


# --------------------------------------------------------------------------- scan mode (主扫)

SESSION_PREFIX = "ECS1:"


def scan_session_create(*, device: Device, purpose: str) -> ScanSession:
    if purpose not in device.purposes:
        raise DomainError("scanner.purpose_not_allowed", field="purpose")
    now = timezone.now()
    return ScanSession.objects.create(
        session_id=secrets.token_hex(12).upper(),
        device_id=device.pk,
        purpose=purpose,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=settings.SCAN_SESSION_SECONDS),
    )


def scan_session_confirm(
    *, ecard: ECard, text: str, password: str | None, authorisation_id: str | None, by: Actor
) -> ScanSession:
    """The holder confirms a terminal's session once, with the e-card password or a live grant."""
    from ecard.services import ecard_check_password

    if not isinstance(text, str) or not text.startswith(SESSION_PREFIX):
        raise DomainError("session.not_found")
    with transaction.atomic():
        session = (
            ScanSession.objects.select_for_update().filter(session_id=text[len(SESSION_PREFIX) :]).first()
        )
        if session is None:
            raise DomainError("session.not_found")
        if session.confirmed_at is not None:
            raise DomainError("session.already_confirmed")
        if timezone.now() >= session.expires_at:
            raise DomainError("session.expired")
        card = Card.objects.select_for_update().get(pk=ecard.card_id)
        answer = card_services(card)[session.purpose]
        authorised = False
        if answer.verdict == Verdict.DENIED:
            raise DomainError(answer.code)
        grant = _live_grant(ecard, session.purpose)
        if answer.verdict == Verdict.NEEDS_AUTHORISATION:
            if grant is None:
                raise DomainError("authorisation.required", purpose=session.purpose)
            authorised = True
        if password is not None:
            ecard_check_password(ecard=ecard, password=password)
        elif authorisation_id is None or grant is None or str(grant.public_id) != str(authorisation_id):
            raise DomainError("ecard.password_wrong", field="password")
        session.confirmed_at = timezone.now()
        session.ecard = ecard
        session.authorised_by_holder = authorised
        session.save(update_fields=["confirmed_at", "ecard", "authorised_by_holder"])
        audit_record(
            action="scan_session.confirmed",
            by=by,
            card=card,
            data={"session": session.session_id, "purpose": session.purpose},
        )
    return session
