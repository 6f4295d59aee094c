"""Revocations: what makes earlier codes invalid, written with the card change that causes it,
and the signed delta offline scanners pull."""

from __future__ import annotations

import dataclasses
import math
import time

import jwt
from django.utils import timezone

from ecard.matrix import REVOKING_STATES
from ecard.models import Card, ECard, FamilyLink
from plumbing.errors import DomainError

from .. import keys, verifier
from ..models import Revocation
from .devices import device_certificates_revoke_all
from .scanners import SCANNER_AUDIENCE
from .snapshots import snapshot_changed


def card_changed(card: Card, *, before: str = "", after: str = "") -> None:
    """Called by the lifecycle services inside their transaction whenever a card changes."""
    ecard = ECard.objects.filter(card=card).first()
    if ecard is None:
        return
    reference = ecard.reference
    now = timezone.now()
    if before != after:
        # A device certificate vouches for the card as it was: any change ends it.
        device_certificates_revoke_all(ecard, reason=f"card.{after}")
    if after in REVOKING_STATES and before != after:
        Revocation.objects.create(ecard_reference=reference, not_before=now, reason=f"card.{after}")
    elif before in REVOKING_STATES and after and after not in REVOKING_STATES:
        Revocation.objects.create(
            ecard_reference=reference, not_before=now, reason="card.loss_lifted", lifted=True
        )
    snapshot_changed(reference)


def ecard_changed(ecard: ECard, *, revoke_reason: str | None = None) -> None:
    """An e-card's password or authorisations changed: revoke earlier codes if asked."""
    if revoke_reason:
        Revocation.objects.create(
            ecard_reference=ecard.reference, not_before=timezone.now(), reason=revoke_reason
        )
        device_certificates_revoke_all(ecard, reason=revoke_reason)
    reference = ecard.reference
    snapshot_changed(reference)


def family_changed(link: FamilyLink, ecard: ECard, *, ended: bool) -> None:
    """A family link was consented to or ended: when ended, its presenter's codes are refused."""
    if ended:
        Revocation.objects.create(
            ecard_reference=ecard.reference,
            presenter=link.reference,
            not_before=timezone.now(),
            reason="family.consent_ended",
        )
    reference = ecard.reference
    snapshot_changed(reference)


def revocations_since(cursor: int, *, limit: int = 1000) -> tuple[list[dict], int, bool]:
    rows = list(Revocation.objects.filter(pk__gt=cursor).order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {
            # Its place in the list: a gate skips entries at or below the cursor it holds.
            "id": row.pk,
            "ecard": row.ecard_reference,
            # Rounded up: a code issued in the same second as the revocation is refused.
            "not_before": math.ceil(row.not_before.timestamp()),
            "reason": row.reason,
            "lifted": row.lifted,
            **({"presenter": row.presenter} if row.presenter else {}),
            **({"serial": row.serial} if row.serial is not None else {}),
        }
        for row in rows
    ]
    return entries, (rows[-1].pk if rows else cursor), more


@dataclasses.dataclass(frozen=True)
class RevocationPage:
    jws: str
    cursor: int
    more: bool


def revocations_cursor() -> int:
    """The newest entry's cursor: what a device holds once it has every entry."""
    return Revocation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def revocations_page(*, since: int) -> RevocationPage:
    """The signed delta after ``since``, signed with the current QR signing key.

    A ``since`` beyond the newest entry is a device that synced with another server or a
    restored database: refused, so it starts again from 0 instead of missing entries.
    """
    if since > revocations_cursor():
        raise DomainError("revocations.cursor_ahead", field="since")
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
    jws = jwt.encode(
        payload,
        keys.private_key(key),
        algorithm=verifier.ALGORITHMS[key.algorithm].jws_alg,
        headers={"kid": key.kid},
    )
    return RevocationPage(jws, cursor, more)
