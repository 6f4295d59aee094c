"""Offline uploads: scans a device accepted while it had no network."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from plumbing.errors import DomainError

from .. import verifier
from ..models import ScanRecord
from .scanners import Device
from .verifying import keys_verifier


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
