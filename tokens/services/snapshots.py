"""Card snapshots: what the verify hot path knows of a card's state, cached in each process
and in the shared store, evicted when the card changes."""

from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from ecard.models import ECard, FamilyLink, FamilyLinkState, HolderAuthorisation

from ..models import DeviceCertificate, Revocation
from ..store import StoreUnavailable, get_store

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 60


def _snapshot_from_db(reference: str) -> dict | None:
    ecard = ECard.objects.select_related("card__holder").filter(reference=reference).first()
    if ecard is None:
        return None
    card = ecard.card
    grants = HolderAuthorisation.objects.filter(
        ecard=ecard, ended_at__isnull=True, expires_at__gt=timezone.now()
    )
    # Revocations of the e-card itself (a password change, a guardian's link ending), as the
    # offline verifier applies them; the card's own state changes are judged by the matrix.
    revoked = (
        Revocation.objects.filter(ecard_reference=reference, presenter="", serial__isnull=True)
        .exclude(reason__startswith="card.")
        .aggregate(latest=Max("not_before"))["latest"]
    )
    return {
        # Whole seconds, rounded up as the revocation list rounds them: a code's issue time has
        # no fraction, so a code of the same second as the change is before it, everywhere.
        "revoked_before": math.ceil(revoked.timestamp()) if revoked else 0,
        "state": card.state,
        "in_production": card.state == "sealed" and card.received_at is None,
        "pin_locked": card.pin_locked,
        "transit": bool(ecard.transit_payment_method),
        "valid_until": card.valid_until.isoformat(),
        "password_changed_at": math.ceil(ecard.password_changed_at.timestamp()),
        "grants": [[g.purposes, g.expires_at.timestamp()] for g in grants],
        "name": card.holder.name_masked,
        # Who may show this holder's codes now (亲情账户), by the reference their codes carry.
        "family": {
            link.reference: {"by": link.presenter.name_masked, "link": str(link.public_id)}
            for link in FamilyLink.objects.filter(
                member_id=card.holder_id, state=FamilyLinkState.ACTIVE
            ).select_related("presenter")
        },
        "holder": card.holder_id,
        # Device certificates still good: a device-signed code of any other is refused.
        "certificates": list(
            DeviceCertificate.objects.filter(
                ecard=ecard, revoked_at__isnull=True, not_after__gt=timezone.now()
            ).values_list("pk", flat=True)
        ),
    }


# Each process keeps the snapshots it used for a moment, evicted by the lifecycle services
# through Redis pub/sub: the verify hot path then reads no card state at all in the steady
# state. The lifetime bounds how stale a copy can be if an eviction is ever missed.
_local_snapshots: dict[str, tuple[float, dict]] = {}
_listener_generation = 0
_listening = 0
_lock = threading.Lock()


def forget() -> None:
    """Drop every copy this process holds; running listeners see they are stale and stop."""
    global _listener_generation
    _listener_generation += 1
    _local_snapshots.clear()


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
