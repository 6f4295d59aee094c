"""How codes and scanners follow the card domain: receivers of ``ecard.signals``.

Connected in ``TokensConfig.ready()``; ``ecard`` never imports this app.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncMinute
from django.dispatch import receiver
from django.utils import timezone

from ecard import signals
from ecard.matrix import Purpose
from plumbing.observability import readiness_check

from . import keys, services
from .models import ScannerDevice, ScanRecord, ScanResult, ScanSession, SnapshotChange
from .store import get_store

MINUTES_SHOWN = 24 * 60  # the dashboard's scans chart: the last day, a bar a minute


@receiver(signals.card_changed, dispatch_uid="tokens.card_changed")
def card_changed(sender, *, card, before, after, **kwargs):
    services.card_changed(card, before=before, after=after)


@receiver(signals.ecard_changed, dispatch_uid="tokens.ecard_changed")
def ecard_changed(sender, *, ecard, revoke_reason=None, **kwargs):
    services.ecard_changed(ecard, revoke_reason=revoke_reason)


@receiver(signals.family_changed, dispatch_uid="tokens.family_changed")
def family_changed(sender, *, link, ecard, ended, **kwargs):
    services.family_changed(link, ecard, ended=ended)


@receiver(signals.housekeeping, dispatch_uid="tokens.housekeeping")
def housekeeping(sender, *, now, **kwargs) -> dict[str, int]:
    day_ago = now - datetime.timedelta(days=1)
    return {
        "scan_sessions": ScanSession.objects.filter(expires_at__lt=day_ago).delete()[0],
        "snapshot_changes": SnapshotChange.objects.filter(at__lt=day_ago).delete()[0],
        "single_use_claims": get_store().purge_expired(),
    }


@receiver(signals.staff_dashboard, dispatch_uid="tokens.staff_dashboard")
def staff_dashboard(sender, *, start_of_day, now, **kwargs) -> dict:
    services.scan_records_flush()
    today = ScanRecord.objects.filter(scanned_at__gte=start_of_day)
    purposes, results = dict(Purpose.choices), dict(ScanResult.choices)
    return {
        "scans_today": [
            {**row, "purpose": purposes.get(row["purpose"], row["purpose"]), "result": results[row["result"]]}
            for row in today.values("purpose", "result").annotate(n=Count("id")).order_by("purpose", "result")
        ],
        "replays_today": today.filter(replay=True).count(),
        "quiet_devices": ScannerDevice.objects.filter(enabled=True).filter(
            Q(last_seen_at__lt=now - datetime.timedelta(days=1)) | Q(last_seen_at__isnull=True)
        ),
        "scans_per_minute": scans_per_minute(now),
    }


def scans_per_minute(now: datetime.datetime) -> list[tuple[datetime.datetime, int]]:
    """Scans in each minute of the last 24 hours, oldest first, in local time.

    Kept for a minute: at rush hour a day holds millions of records, and every supervisor's
    dashboard would count them again.
    """
    end = timezone.localtime(now).replace(second=0, microsecond=0)
    key = f"dashboard:scans_per_minute:{end:%Y%m%d%H%M}"
    counts = cache.get(key)
    if counts is None:
        start = end - datetime.timedelta(minutes=MINUTES_SHOWN - 1)
        rows = (
            ScanRecord.objects.filter(scanned_at__gte=start)
            .annotate(minute=TruncMinute("scanned_at", tzinfo=end.tzinfo))
            .values("minute")
            .annotate(n=Count("id"))
            .values_list("minute", "n")
        )
        counts = {timezone.localtime(minute).strftime("%Y%m%d%H%M"): n for minute, n in rows}
        cache.set(key, counts, 60)
    minutes = [end - datetime.timedelta(minutes=MINUTES_SHOWN - 1 - i) for i in range(MINUTES_SHOWN)]
    return [(minute, counts.get(minute.strftime("%Y%m%d%H%M"), 0)) for minute in minutes]


@readiness_check("signing_key")
def signing_key_ready():
    key = keys.signing_key_current()
    keys.private_key(key)


@readiness_check("store_durability")
def store_durable():
    """With QR_STORE_REQUIRE_DURABLE (production), the single-use store must write every claim
    and scan record to its AOF before answering (``appendonly yes``, ``appendfsync always``):
    a crash then loses nothing, and what a failover loses the store's epoch refuses."""
    from .store import RedisStore, get_store

    store = get_store()
    if not settings.QR_STORE_REQUIRE_DURABLE or not isinstance(store, RedisStore):
        return
    found = store.durability()
    if found.get("appendonly") != "yes" or found.get("appendfsync") != "always":
        raise RuntimeError(f"single-use store persistence is {found or 'unknown'}")
