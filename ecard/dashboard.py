"""The staff dashboard: the state of the service at a glance, read-only.

Scans per minute over the last day and loss reports per day over the last 30 are drawn as
charts (server-side SVG) so that a spike shows; the same numbers stay below them as tables.
"""

import datetime

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from . import signals
from .charts import Bar, bar_chart
from .models import AuditEvent, Card, CardState, ECard

LOSS_DAYS = 30
LOST = (CardState.TEMPORARILY_LOST, CardState.LOST)


def losses_per_day(today: datetime.date) -> list[tuple[datetime.date, int]]:
    """Cards newly reported lost each day (temporarily, or formally straight away), oldest first."""
    start = today - datetime.timedelta(days=LOSS_DAYS - 1)
    since = timezone.make_aware(datetime.datetime.combine(start, datetime.time()))
    rows = (
        AuditEvent.objects.filter(at__gte=since, state_after__in=LOST)
        .filter(~Q(state_before__in=LOST))
        .annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    counts = dict(rows)
    days = [start + datetime.timedelta(days=i) for i in range(LOSS_DAYS)]
    return [(day, counts.get(day, 0)) for day in days]


def scans_chart(per_minute):
    bars = [
        Bar(
            f"{minute:%H:%M}",
            n,
            tick=f"{minute:%H}:00" if minute.minute == 0 and minute.hour % 3 == 0 else "",
        )
        for minute, n in per_minute
    ]
    # 0.6 units a minute: the day is about as wide as the dashboard, so its labels stay legible.
    return bar_chart(bars, title=_("近24小时每分钟扫码量"), height=200, bar_width=0.6)


def scans_by_hour(per_minute) -> list[dict]:
    """The chart's numbers for a table: each hour's scans and its busiest minute."""
    hours: dict[datetime.datetime, dict] = {}
    for minute, n in per_minute:
        hour = hours.setdefault(
            minute.replace(minute=0), {"hour": minute.replace(minute=0), "n": 0, "peak": 0}
        )
        hour["n"] += n
        hour["peak"] = max(hour["peak"], n)
    return list(reversed(hours.values()))  # the latest first


def losses_chart(per_day):
    bars = [
        Bar(f"{day:%m-%d}", n, tick=f"{day:%m-%d}" if i % 5 == 0 else "")
        for i, (day, n) in enumerate(per_day)
    ]
    return bar_chart(bars, title=_("近30天每日挂失量"), height=160, bar_width=24)


@staff_member_required
def dashboard(request):
    now = timezone.now()
    today = timezone.localdate()
    start_of_day = timezone.make_aware(datetime.datetime.combine(today, datetime.time()))
    states = dict(Card.objects.values_list("state").annotate(n=Count("id")))
    context = {
        "title": _("运行概况"),
        "card_states": [(label, states.get(value, 0)) for value, label in CardState.choices],
        "ecards": ECard.objects.count(),
        "pin_locked": Card.objects.filter(pin_locked=True).exclude(state=CardState.CANCELLED).count(),
    }
    # Scans, replays and quiet devices come from the apps that own them (``codes``).
    for _receiver, panel in signals.staff_dashboard.send(sender=None, start_of_day=start_of_day, now=now):
        context.update(panel)
    per_minute = context.pop("scans_per_minute", [])
    per_day = losses_per_day(today)
    context.update(
        scans_chart=scans_chart(per_minute),
        scans_by_hour=scans_by_hour(per_minute),
        losses_chart=losses_chart(per_day),
        losses_per_day=per_day[::-1],
    )
    return render(request, "admin/ecard/dashboard.html", {**admin.site.each_context(request), **context})
