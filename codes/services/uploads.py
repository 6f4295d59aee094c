"""Offline uploads: scans a device made while it had no network.

Each scan is judged alone, so one bad item never blocks a gate's buffer: it is answered
``invalid`` with its reason and every good item is stored. An accepted single-use code is
claimed in the same store the online path claims in, whichever comes first: a later online
scan of it answers ``code.replayed``, and an upload after an online accept is a replay.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from plumbing.errors import DomainError

from .. import verifier
from ..models import ScanRecord
from ..store import StoreUnavailable, get_store
from .scanners import Device
from .verifying import claim_key, keys_verifier


def _claim(code: verifier.Code, device: Device) -> bool:
    """Claim an accepted code's single use; True when this upload is the first to use it."""
    key = claim_key(code, device)
    ttl = int(code.expires_at + 2 * settings.QR_CLOCK_SKEW_SECONDS - time.time())
    if key is None or ttl <= 0:  # any number of uses, or too old for an online scan to accept
        return True
    try:
        return bool(get_store().claim(key, ttl))
    except StoreUnavailable:
        # Storing the scan without its claim would let the code pass online once more: the
        # gate keeps its buffer and uploads again (what was stored counts as a duplicate).
        raise DomainError("store.unavailable") from None


def scan_upload(*, device: Device, item: dict) -> dict:
    """One validated scan: ``{"result": created|duplicate|replay|invalid, "reason"}``."""
    try:
        # Signed by a key of ours; its time was the device's to judge, offline.
        code, _ = keys_verifier().signed(item["code"])
    except verifier.Refusal as refusal:
        return {"result": "invalid", "reason": refusal.code}
    if code.purpose in verifier.ONLINE_ONLY:
        # Shown to a device offline, where it can never settle: spent now, so that nobody who
        # saw it there (or copied it from the gate's buffer) settles it online later.
        _claim(code, device)
        return {"result": "invalid", "reason": "code.online_only"}
    if code.purpose not in device.purposes:
        return {"result": "invalid", "reason": "code.purpose_not_allowed"}
    accepted = item.get("result", "accepted") == "accepted"
    with transaction.atomic():
        if ScanRecord.objects.filter(device_id=device.pk, nonce=code.nonce, offline=True).exists():
            return {"result": "duplicate", "reason": ""}
        others = ScanRecord.objects.select_for_update().filter(
            Q(nonce=code.nonce), Q(result="accepted") | Q(offline=True)
        )
        if code.purpose == "transit":
            others = others.filter(device__organisation=device.organisation)
        first_use = _claim(code, device) if accepted else True
        replay = code.purpose != "identity" and (others.exists() or not first_use)
        if replay:
            others.update(replay=True)
        ScanRecord.objects.create(
            device_id=device.pk,
            ecard_reference=code.ecard,
            purpose=code.purpose,
            nonce=code.nonce,
            result="accepted" if accepted else "rejected",
            reason=item.get("reason", ""),
            authorised_by_holder=code.authorised_by_holder,
            presenter=code.presenter or "",
            offline=True,
            replay=replay,
            scanned_at=item["scanned_at"],
        )
    return {"result": "replay" if replay else "created", "reason": ""}


def upload_totals(results: list[dict]) -> dict:
    count = {
        kind: sum(r["result"] == kind for r in results)
        for kind in ("created", "replay", "duplicate", "invalid")
    }
    return {
        "results": results,
        "created": count["created"] + count["replay"],  # every stored scan; replays among them
        "duplicates": count["duplicate"],
        "replays": count["replay"],
        "invalid": count["invalid"],
    }
