"""The holiday calendar: what happens when staff enter a year, and the warning before one runs out.

Dates counted over a year nobody has entered are provisional (weekends only); entering the
year computes every one of them again, at once.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import workdays
from ..audit import Actor, audit_record
from ..models import AuditEvent, Card, CardState
from .losses import formalisation_deadline_for

WARN_DAYS = 60


@transaction.atomic
def calendar_year_entered(*, year: int, by: Actor) -> int:
    """Staff saved ``year``'s schedule: compute every provisional date again. Returns how many
    cards changed."""
    changed = 0
    lost = Card.objects.select_for_update().filter(
        state=CardState.TEMPORARILY_LOST, deadline_provisional=True
    )
    for card in lost:
        before, lost_at = card.formalisation_deadline, card.temporarily_lost_at
        if before is None or lost_at is None:  # a temporary loss has both from its report on
            continue
        deadline, card.deadline_provisional = formalisation_deadline_for(lost_at)
        card.formalisation_deadline = deadline
        card.save(update_fields=["formalisation_deadline", "deadline_provisional", "updated_at"])
        audit_record(
            action="card.deadline_recomputed",
            by=by,
            card=card,
            data={"year": year, "from": before.isoformat(), "to": deadline.isoformat()},
        )
        changed += 1
    waiting = (
        Card.objects.select_for_update().filter(ready_on_provisional=True).exclude(state=CardState.CANCELLED)
    )
    for card in waiting:
        ready_before = card.ready_on
        if ready_before is None:  # a provisional pick-up date is a date
            continue
        days = settings.CARD_REPLACEMENT_PICKUP_WORKING_DAYS[card.replacement_kind]
        ready_on = workdays.add_working_days(card.issued_on, days)
        card.ready_on = ready_on
        card.ready_on_provisional = workdays.provisional(card.issued_on, ready_on)
        card.save(update_fields=["ready_on", "ready_on_provisional", "updated_at"])
        audit_record(
            action="card.ready_on_recomputed",
            by=by,
            card=card,
            data={"year": year, "from": ready_before.isoformat(), "to": ready_on.isoformat()},
        )
        changed += 1
    return changed


def calendar_warning(today: datetime.date | None = None) -> str | None:
    """From 60 days before the last known year ends, what staff must do (None before)."""
    today = today or timezone.localdate()
    last = workdays.last_known_year()
    if today < datetime.date(last, 12, 31) - datetime.timedelta(days=WARN_DAYS):
        return None
    return _(
        "{year}年节假日安排尚未录入：请在“节假日日历”中录入该年的法定节假日和调休工作日。"
        "在此之前，跨入{year}年的挂失截止和领卡日期按周末推算并标记为待定。"
    ).format(year=last + 1)


def calendar_check(*, today: datetime.date | None = None) -> bool:
    """Tell supervisors once, by e-mail, that next year's schedule is missing. True if sent."""
    warning = calendar_warning(today)
    if warning is None:
        return False
    year = str(workdays.last_known_year() + 1)
    with transaction.atomic():
        if (
            AuditEvent.objects.select_for_update()
            .filter(action="calendar.warning_sent", reason=year)
            .exists()
        ):
            return False
        supervisors = (
            get_user_model()
            .objects.filter(is_active=True, is_staff=True, groups__name="supervisor")
            .exclude(email="")
            .values_list("email", flat=True)
        )
        recipients = sorted(set(supervisors))
        audit_record(
            action="calendar.warning_sent",
            by=Actor.system("calendar_check"),
            reason=year,
            data={"recipients": len(recipients)},
        )
    if recipients:
        send_mail(_("[ecard] {year}年节假日安排尚未录入").format(year=year), warning, None, recipients)
    return True
