"""Device certificates: a phone's own key signs codes while phone and gate are both offline.

The issuer (the current QR signing key) certifies a P-256 public key for an e-card, for a few
purposes the card allows now, for DEVICE_CERT_HOURS. A card state change, a password change or
the holder revokes it at once: a revocation entry naming its serial, which refuses every code
it vouches for whatever time the phone wrote into them.
"""

from __future__ import annotations

import base64
import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecard.audit import Actor, audit_record
from ecard.matrix import Verdict, card_services
from ecard.models import Card, ECard
from plumbing.errors import DomainError

from .. import keys, verifier
from ..models import DeviceCertificate, Revocation
from .snapshots import snapshot_changed


def _device_key(text: str) -> bytes:
    """The compressed point of a P-256 public key sent as base64 (compressed or uncompressed)."""
    try:
        raw = base64.b64decode((text or "").strip(), validate=True)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except (ValueError, TypeError):
        raise DomainError("device.public_key_invalid", field="public_key") from None
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def device_certificate_issue(
    *, ecard: ECard, public_key: str, purposes: list[str] | None, by: Actor
) -> DeviceCertificate:
    device_key = _device_key(public_key)
    wanted = sorted(set(purposes or verifier.DEVICE_PURPOSES))
    if not set(wanted) <= verifier.DEVICE_PURPOSES:
        raise DomainError("device.purpose_invalid", field="purposes")
    key = keys.signing_key_current()
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=ecard.card_id)
        verdicts = card_services(card)
        # Only what the card allows outright now: an authorisation while lost is for minutes,
        # not for a day of offline codes.
        allowed = [p for p in wanted if verdicts[p].verdict == Verdict.ALLOWED]
        if not allowed:
            refused = verdicts[wanted[0]]
            raise DomainError(refused.code or "device.purpose_invalid")
        now = timezone.now().replace(microsecond=0)
        live = list(
            DeviceCertificate.objects.select_for_update()
            .select_related("ecard")
            .filter(ecard=ecard, revoked_at__isnull=True, not_after__gt=now)
            .order_by("not_before", "pk")
        )
        for old in live[: max(0, len(live) - settings.DEVICE_CERT_MAX_PER_ECARD + 1)]:
            _revoke(old, reason="certificate.replaced")
        row = DeviceCertificate.objects.create(
            ecard=ecard,
            public_key=device_key.hex(),
            purposes=allowed,
            kid=key.kid,
            not_before=now,
            not_after=now + datetime.timedelta(hours=settings.DEVICE_CERT_HOURS),
        )
        raw = verifier.encode_certificate(
            kid=key.kid,
            ecard=ecard.reference,
            serial=row.pk,
            not_before=int(now.timestamp()),
            not_after=int(row.not_after.timestamp()),
            purposes=allowed,
            device_key=device_key,
            sign=lambda body: keys.sign(key, body),
        )
        row.certificate = verifier.b64url(raw)
        row.save(update_fields=["certificate"])
        audit_record(
            action="device.certified", by=by, card=card, data={"serial": row.pk, "purposes": allowed}
        )
    reference = ecard.reference
    snapshot_changed(reference)
    return row


def _revoke(row: DeviceCertificate, *, reason: str) -> None:
    row.revoked_at = timezone.now()
    row.revoke_reason = reason
    row.save(update_fields=["revoked_at", "revoke_reason"])
    Revocation.objects.create(
        ecard_reference=row.ecard.reference, serial=row.pk, not_before=row.revoked_at, reason=reason
    )


@transaction.atomic
def device_certificate_revoke(*, certificate: DeviceCertificate, by: Actor) -> DeviceCertificate:
    row = DeviceCertificate.objects.select_for_update().select_related("ecard").get(pk=certificate.pk)
    if row.revoked_at is not None:
        raise DomainError("device.certificate_revoked")
    _revoke(row, reason="certificate.revoked")
    audit_record(action="device.revoked", by=by, card=row.ecard.card, data={"serial": row.pk})
    reference = row.ecard.reference
    snapshot_changed(reference)
    return row


def device_certificates_revoke_all(ecard: ECard, *, reason: str) -> int:
    """Inside the transaction of a card or e-card change: every live certificate goes, with
    the change's own reason (``card.temporarily_lost``, ``ecard.password_changed``…)."""
    rows = list(
        DeviceCertificate.objects.select_for_update()
        .select_related("ecard")
        .filter(ecard=ecard, revoked_at__isnull=True, not_after__gt=timezone.now())
    )
    for row in rows:
        _revoke(row, reason=reason)
    return len(rows)
