"""Scanner devices: registration, keys, and authenticating their signed assertions."""

from __future__ import annotations

import collections
import dataclasses
import secrets
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from ecard.audit import Actor, audit_record
from plumbing import assertions, outage
from plumbing.errors import DomainError

from .. import verifier
from ..models import ScannerDevice, ScannerKind

SCANNER_AUDIENCE = "ecard:scanner"


@dataclasses.dataclass(frozen=True)
class Device:
    pk: int
    device_id: str
    organisation: str
    purposes: frozenset
    enabled: bool
    public_key: object


def load_public_key(text: str) -> Any:
    """An Ed25519 or SM2 public key (PEM, or base64 of the raw key): the key type decides the
    algorithm the device signs its JWTs with."""
    try:
        return assertions.load_public_key(text)
    except ValueError:
        raise DomainError("scanner.public_key_invalid", field="public_key") from None


def scanner_register(
    *, organisation: str, kind: str, purposes: list[str], public_key: str, by: Actor
) -> ScannerDevice:
    if kind not in ScannerKind.values:
        raise DomainError("scanner.kind_invalid", field="kind")
    if not purposes or any(p not in verifier.PURPOSE_CODES for p in purposes):
        raise DomainError("scanner.purposes_invalid", field="purposes")
    if not (organisation or "").strip():
        raise DomainError("scanner.organisation_required", field="organisation")
    key = load_public_key(public_key)
    device = ScannerDevice.objects.create(
        device_id="dev_" + secrets.token_hex(8),
        organisation=organisation.strip(),
        kind=kind,
        purposes=sorted(set(purposes)),
        public_key=assertions.public_key_text(key),
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
    device.public_key = assertions.public_key_text(load_public_key(public_key))
    device.save(update_fields=["public_key"])
    return _device_changed(device, "scanner.key_rotated", by)


# Verified device assertions by token until they expire, and device state for a moment:
# the hot path then checks no signature and reads no row for a device it has just seen.
# Another process sees a disabled device within SCANNER_STATE_CACHE_SECONDS.
_assertions: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()
_devices: dict[str, tuple[float, Device]] = {}
_seen: dict[str, float] = {}
_lock = threading.Lock()


def forget() -> None:
    """Drop every verified assertion and device state this process holds."""
    _assertions.clear()
    _devices.clear()
    _seen.clear()
    outage.forget()


def device_get(device_id: str) -> Device | None:
    """The device as the verifier sees it: read again after SCANNER_STATE_CACHE_SECONDS."""
    cached = _devices.get(device_id)
    if cached and time.monotonic() - cached[0] < settings.SCANNER_STATE_CACHE_SECONDS:
        return cached[1]
    # A short PostgreSQL outage must not stop every gate: the device as read last, for a
    # while. A device disabled during the outage is disabled once the database is back.
    usable = cached and time.monotonic() - cached[0] < settings.SCANNER_STATE_STALE_SECONDS
    if cached is not None and usable and outage.database_down():
        return cached[1]
    try:
        row = ScannerDevice.objects.filter(device_id=device_id).first()
    except DatabaseError:
        outage.database_failed()
        if cached is not None and usable:
            return cached[1]
        raise DomainError("request.unavailable") from None
    if row is None:
        return None
    device = Device(
        row.pk,
        row.device_id,
        row.organisation,
        frozenset(row.purposes),
        row.enabled,
        load_public_key(row.public_key),
    )
    _devices[device_id] = (time.monotonic(), device)
    return device


def scanner_authenticate(token: str) -> Device:
    now = time.time()
    hit = _assertions.get(token)
    if hit is not None and hit[1] > now:
        device = device_get(hit[0])
    else:
        try:
            device = device_get(assertions.unverified_issuer(token))
            if device is None:
                raise DomainError("scanner.token_invalid")
            claims = assertions.verify(
                token,
                device.public_key,
                issuer=device.device_id,
                audience=SCANNER_AUDIENCE,
                skew=settings.QR_CLOCK_SKEW_SECONDS,
                max_lifetime=settings.SCANNER_ASSERTION_MAX_SECONDS,
            )
        except assertions.AssertionRefused as refused:
            raise DomainError(f"scanner.token_{refused.why}") from None
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
        try:
            if not outage.database_down():
                ScannerDevice.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())
        except DatabaseError:
            outage.database_failed()  # "last seen" can wait for the next minute; the scan cannot
    return device
