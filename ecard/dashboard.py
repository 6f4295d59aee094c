"""The staff dashboard: the state of the service at a glance, read-only."""

import datetime

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import signals
from .models import Card, CardState, ECard


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
    # Scans, replays and quiet devices come from the apps that own them (``tokens``).
    for _receiver, panel in signals.staff_dashboard.send(sender=None, start_of_day=start_of_day, now=now):
        context.update(panel)
    return render(request, "admin/ecard/dashboard.html", {**admin.site.each_context(request), **context})
