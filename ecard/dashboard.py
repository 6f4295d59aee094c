"""The staff dashboard: the state of the service at a glance, read-only."""

import datetime

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from tokens.models import ScannerDevice, ScanRecord
from tokens.services import scan_records_flush

from .models import Card, CardState, ECard


@staff_member_required
def dashboard(request):
    scan_records_flush()
    now = timezone.now()
    today = timezone.localdate()
    start_of_day = timezone.make_aware(datetime.datetime.combine(today, datetime.time()))
    states = dict(Card.objects.values_list("state").annotate(n=Count("id")))
    scans = (
        ScanRecord.objects.filter(scanned_at__gte=start_of_day)
        .values("purpose", "result")
        .annotate(n=Count("id"))
        .order_by("purpose", "result")
    )
    context = {
        "title": "运行概况 / Dashboard",
        "card_states": [(label, states.get(value, 0)) for value, label in CardState.choices],
        "ecards": ECard.objects.count(),
        "scans_today": list(scans),
        "replays_today": ScanRecord.objects.filter(scanned_at__gte=start_of_day, replay=True).count(),
        "quiet_devices": ScannerDevice.objects.filter(enabled=True).filter(
            Q(last_seen_at__lt=now - datetime.timedelta(days=1)) | Q(last_seen_at__isnull=True)
        ),
        "pin_locked": Card.objects.filter(pin_locked=True).exclude(state=CardState.CANCELLED).count(),
    }
    from django.contrib import admin

    return render(request, "admin/ecard/dashboard.html", {**admin.site.each_context(request), **context})
