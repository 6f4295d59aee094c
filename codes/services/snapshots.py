"""Card snapshots: what the verify hot path knows of a card's state, cached in each process
and in the shared store, evicted when the card changes.

Eviction is a message after the change commits, and a message can be lost: Redis down when
the loss is reported, then back (from its AOF) with the card's old copy. So each change also
writes a ``SnapshotChange`` row in its own transaction, every snapshot carries the newest
change id there was when it was built, and every process reads the recent rows about once a
second: a snapshot older than a change this process has seen for its card is never used."""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Max
from django.utils import timezone

from ecard.models import ECard, FamilyLink, FamilyLinkState, HolderAuthorisation
from plumbing import outage

from ..models import DeviceCertificate, Revocation, SnapshotChange
from ..store import StoreUnavailable, get_store

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 60


def _snapshot_from_db(reference: str) -> dict | None:
    # Read before the card: a change that commits in between makes the copy look older than
    # it is (read again), never newer.
    version = SnapshotChange.objects.aggregate(latest=Max("pk"))["latest"] or 0
    ecard = ECard.objects.select_related("card__holder").filter(reference=reference).first()
    if ecard is None:
        return None
    card = ecard.card
    grants = HolderAuthorisation.objects.filter(
        ecard=ecard, ended_at__isnull=True, expires_at__gt=timezone.now()
    )
    # Revocations of the e-card itself (a password change, a guardian's link ending), as the
    # offline verifier applies them; the card's own state changes are judged by the matrix.
    revoked = Revocation.of_every_code(reference).aggregate(latest=Max("not_before"))["latest"]
    return {
        "version": version,
        # Whole seconds, rounded up as the revocation list rounds them: a code's issue time has
        # no fraction, so a code of the same second as the change is before it, everywhere.
        "revoked_before": math.ceil(revoked.timestamp()) if revoked else 0,
        "state": card.state,
        "in_production": card.in_production,
        "pin_locked": card.pin_locked,
        "initial_pin": card.initial_pin_in_hand,
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
    global _listener_generation, _changes_polled
    _listener_generation += 1
    _local_snapshots.clear()
    _changes.clear()
    _changes_polled = None


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


# What this process has read of SnapshotChange: reference → (newest change id, its time), for
# changes young enough that a copy from before them may still be in the shared store.
_changes: dict[str, tuple[int, float]] = {}
_changes_polled: float | None = None


def _changes_window() -> float:
    """How long a copy from before a change can outlive it: its lifetime in the store."""
    return float(SNAPSHOT_TTL + 2 * settings.QR_CLOCK_SKEW_SECONDS)


_changes_lock = threading.Lock()


def _poll_changes() -> None:
    """About once a second per process: the changes committed lately. Each poll reads the last
    ``QR_SNAPSHOT_CHANGES_OVERLAP_SECONDS`` again, so that a change whose transaction committed
    later than its row's time (ids are not committed in order) is not skipped. One thread polls
    at a time; the others go on with what was read last."""
    if not _changes_lock.acquire(blocking=False):
        return
    try:
        _poll_changes_now()
    finally:
        _changes_lock.release()


def _poll_changes_now() -> None:
    global _changes_polled
    now = time.monotonic()
    first = _changes_polled is None
    if _changes_polled is not None and now - _changes_polled < settings.QR_SNAPSHOT_CHANGES_POLL_SECONDS:
        return
    if outage.database_down():
        return
    _changes_polled = now  # a database that is down is asked again in a second, not per scan
    back = _changes_window() if first else settings.QR_SNAPSHOT_CHANGES_OVERLAP_SECONDS
    since = timezone.now() - datetime.timedelta(seconds=back)
    try:
        rows = list(SnapshotChange.objects.filter(at__gte=since).values_list("pk", "ecard_reference", "at"))
    except DatabaseError:
        outage.database_failed()
        if first:
            _changes_polled = None
        log.warning("could not read the card changes: the database is unavailable")
        return
    oldest = time.time() - _changes_window()
    for reference in [r for r, (_, at) in _changes.items() if at < oldest]:
        del _changes[reference]
    for pk, reference, at in rows:
        if pk > _changes.get(reference, (0, 0))[0]:
            _changes[reference] = (pk, at.timestamp())
            _local_snapshots.pop(reference, None)


def _behind(reference: str, snapshot: dict) -> bool:
    return bool(_changes.get(reference, (0, 0))[0] > snapshot.get("version", 0))


def snapshot_get(reference: str) -> dict | None:
    _poll_changes()
    local = _local_snapshots.get(reference)
    if local is not None and time.monotonic() - local[0] < settings.QR_SNAPSHOT_LOCAL_SECONDS:
        if not _behind(reference, local[1]):
            return local[1]
    if _listening != _listener_generation + 1:
        _listen()
    store = get_store()
    try:
        snapshot: dict | None = store.snapshot_get(reference)
    except StoreUnavailable:
        return _snapshot_from_db(reference)
    if snapshot is not None and not _behind(reference, snapshot):
        # Only a copy read from the shared store is kept here: one read from the database
        # may predate a change whose eviction message already went by.
        _local_snapshots[reference] = (time.monotonic(), snapshot)
        return snapshot
    stale = snapshot is not None
    snapshot = _snapshot_from_db(reference)
    try:
        if stale:  # the store came back with a copy from before a change: put it right
            log.warning("a card snapshot older than a change was in the store: replaced")
            store.snapshot_replace(reference, snapshot, SNAPSHOT_TTL)
        elif snapshot is not None:
            store.snapshot_fill(reference, snapshot, SNAPSHOT_TTL)
    except StoreUnavailable:
        pass
    return snapshot


def snapshot_changed(reference: str) -> None:
    """Inside the transaction that changes what a scan must know of an e-card: the change is
    recorded with it, and every process drops its copies once it commits."""
    SnapshotChange.objects.create(ecard_reference=reference)
    transaction.on_commit(lambda: snapshot_refresh(reference))


def snapshot_refresh(reference: str) -> None:
    """After a change commits: the fresh state for everyone, and every process drops its copy."""
    _forget_local(reference)
    try:
        get_store().snapshot_replace(reference, _snapshot_from_db(reference), SNAPSHOT_TTL)
    except StoreUnavailable:
        # While Redis is unreachable nobody reads the shared copy; if it comes back with the
        # old copy still in it, the SnapshotChange row written with the change keeps every
        # process from using that copy.
        log.warning("could not refresh the card snapshot of an e-card: store unavailable")
