"""How codes and scanners follow the card domain: receivers of ``ecard.signals``.

Connected in ``TokensConfig.ready()``; ``ecard`` never imports this app.
"""

from __future__ import annotations

import datetime

from django.db.models import Count, Q
from django.dispatch import receiver

from ecard import signals
from plumbing.observability import readiness_check

from . import keys, services
from .models import ScannerDevice, ScanRecord, ScanSession
from .store import get_store


@receiver(signals.card_changed, dispatch_uid="tokens.card_changed")
def card_changed(sender, *, card, before, after, **kwargs):
    services.card_changed(card, before=before, after=after)


@receiver(signals.ecard_changed, dispatch_uid="tokens.ecard_changed")
def ecard_changed(sender, *, ecard, revoke_reason=None, **kwargs):
    services.ecard_changed(ecard, revoke_reason=revoke_reason)


@receiver(signals.housekeeping, dispatch_uid="tokens.housekeeping")
def housekeeping(sender, *, now, **kwargs) -> dict[str, int]:
    expired_sessions = ScanSession.objects.filter(expires_at__lt=now - datetime.timedelta(days=1))
    return {
        "scan_sessions": expired_sessions.delete()[0],
        "single_use_claims": get_store().purge_expired(),
    }


@receiver(signals.staff_dashboard, dispatch_uid="tokens.staff_dashboard")
def staff_dashboard(sender, *, start_of_day, now, **kwargs) -> dict:
    services.scan_records_flush()
    today = ScanRecord.objects.filter(scanned_at__gte=start_of_day)
    return {
        "scans_today": list(
            today.values("purpose", "result").annotate(n=Count("id")).order_by("purpose", "result")
        ),
        "replays_today": today.filter(replay=True).count(),
        "quiet_devices": ScannerDevice.objects.filter(enabled=True).filter(
            Q(last_seen_at__lt=now - datetime.timedelta(days=1)) | Q(last_seen_at__isnull=True)
        ),
    }


@readiness_check("signing_key")
def signing_key_ready():
    key = keys.signing_key_current()
    keys.private_key(key.kid)
