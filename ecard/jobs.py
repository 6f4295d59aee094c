"""The scheduled jobs. Celery tasks and ``manage.py run_job`` call these; each is idempotent."""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from accounts.models import Holder, IdempotencyRecord, RefreshToken
from plumbing.errors import DomainError

from . import signals
from .audit import Actor
from .models import Card, CardApplication, CardState, Notice
from .notices import card_params, notice_send, notices_create_bulk
from .services import card_lapse_temporary_loss, ward_came_of_age
from .services.replacements import RENEWABLE_STATES

# Days before valid_until at which a holder hears about it: 60, 30, 7 and the day itself.
EXPIRY_MILESTONES = ((0, "0d"), (7, "7d"), (30, "30d"), (60, "60d"))


def expiry_milestone(days_left: int) -> str | None:
    """The latest milestone reached: a job that missed a day still sends the one it owes."""
    for limit, name in EXPIRY_MILESTONES:
        if 0 <= days_left <= limit:
            return name
    return None


def expiry_chunks(*, size: int | None = None) -> list[tuple[int, int]]:
    """Primary-key ranges covering every card, so no job ever loads all cards at once."""
    size = size or settings.NOTICE_CHUNK_SIZE
    bounds = Card.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    return [
        (low, min(low + size, bounds["high"] + 1)) for low in range(bounds["low"], bounds["high"] + 1, size)
    ]


# A card past its date is told once, within this many days of it (a job that missed days
# still sends it; an older expiry was told when it happened, or predates the service).
EXPIRED_NOTICE_DAYS = 30


def expiring_cards(low: int, high: int, today: datetime.date):
    """Cards about to expire, and those that expired lately, with nothing applied for yet, whose
    holder may renew them now: the notice says to renew in the app, which must then take it (a
    card reported lost is replaced instead; a milestone before the renewal window opens waits)."""
    ahead = min(EXPIRY_MILESTONES[-1][0], settings.CARD_RENEWAL_WINDOW_DAYS)
    horizon = today + datetime.timedelta(days=ahead)
    since = today - datetime.timedelta(days=EXPIRED_NOTICE_DAYS)
    return Card.objects.filter(
        pk__gte=low,
        pk__lt=high,
        valid_until__gte=since,
        valid_until__lte=horizon,
        state__in=RENEWABLE_STATES,
        replacement_applied_at__isnull=True,
    )


@transaction.atomic
def expiry_notices_chunk(*, low: int, high: int, today: datetime.date) -> int:
    """The notices one chunk of cards owes today, written in one transaction.

    A chunk killed half-way leaves nothing; run again it writes them all, and the unique
    constraint turns a second run (or a second beat) into no notice at all.
    """
    rows = []
    for pk, holder_id, number, valid_until in expiring_cards(low, high, today).values_list(
        "pk", "holder_id", "number", "valid_until"
    ):
        days_left = (valid_until - today).days
        expired = days_left < 0  # valid_until is the last day it is valid
        rows.append(
            {
                "holder_id": holder_id,
                "kind": "card.expired" if expired else "card.expiring",
                "subject": str(pk),
                "milestone": "expired" if expired else expiry_milestone(days_left),
                "params": {"card_tail": number[-4:], "valid_until": valid_until.isoformat()},
            }
        )
    if not rows:
        return 0
    sent = set(
        Notice.objects.filter(
            kind__in=["card.expiring", "card.expired"], subject__in=[r["subject"] for r in rows]
        ).values_list("subject", "milestone")
    )
    return notices_create_bulk([r for r in rows if (r["subject"], r["milestone"]) not in sent])


@dataclasses.dataclass
class LossDeadlineReport:
    reminded: int = 0
    lapsed: int = 0
    skipped: int = 0


def loss_deadlines(*, now: datetime.datetime | None = None) -> LossDeadlineReport:
    """Remind on the last working day before a temporary loss ends; lapse the ones that ended.

    The lapse goes through the domain service, which re-checks under the row lock, so a
    lift or formal loss made at the same moment wins cleanly and is skipped here.
    """
    now = now or timezone.now()
    report = LossDeadlineReport()
    overdue = Card.objects.filter(state=CardState.TEMPORARILY_LOST, formalisation_deadline__lte=now)
    for card in overdue.iterator(chunk_size=500):
        try:
            card_lapse_temporary_loss(card=card, by=Actor.system("loss_deadlines"), now=now)
            report.lapsed += 1
        except DomainError:
            report.skipped += 1
    today = timezone.localdate(now)
    # The deadline is the start of the day after the last working day of the window.
    upcoming = Card.objects.filter(
        state=CardState.TEMPORARILY_LOST,
        formalisation_deadline__gt=now,
        formalisation_deadline__lte=now + datetime.timedelta(days=1),
    )
    for card in upcoming.iterator(chunk_size=500):
        deadline = timezone.localtime(card.formalisation_deadline)
        if today >= deadline.date() - datetime.timedelta(days=1):
            notice = notice_send(
                holder=card.holder_id,
                kind="loss.deadline_reminder",
                subject=str(card.pk),
                milestone=deadline.isoformat(),
                params=card_params(card, deadline=deadline.strftime("%Y-%m-%d %H:%M")),
            )
            report.reminded += notice is not None
    return report


def replacement_ready(*, today: datetime.date | None = None) -> int:
    """Tell holders their new card can be collected, once its pick-up date has come: a
    replacement applied for at the counter, whose holder was given the date there. A card made
    for an online application is told by the application's own steps (ready: where to collect
    it, or the tracking number of the post), which follow the card's progress, not a date."""
    today = today or timezone.localdate()
    ready = Card.objects.filter(
        state=CardState.SEALED, replaces__isnull=False, received_at__isnull=True, ready_on__lte=today
    ).exclude(pk__in=CardApplication.objects.filter(new_card__isnull=False).values("new_card_id"))
    sent = 0
    for card in ready.iterator(chunk_size=500):
        notice = notice_send(
            holder=card.holder_id, kind="replacement.ready", subject=str(card.pk), params=card_params(card)
        )
        sent += notice is not None
    return sent


def guardian_links(*, today: datetime.date | None = None) -> int:
    """End the guardian links of wards who are HOLDER_GUARDIAN_AGE or older today (or whose age
    is not known). Returns how many ended; a second run the same day ends none."""
    today = today or timezone.localdate()
    try:
        cutoff = today.replace(year=today.year - settings.HOLDER_GUARDIAN_AGE)
    except ValueError:  # 29 February
        cutoff = today.replace(year=today.year - settings.HOLDER_GUARDIAN_AGE, day=28)
    wards = Holder.objects.filter(guardian__isnull=False).filter(
        Q(date_of_birth__lte=cutoff) | Q(date_of_birth__isnull=True)
    )
    by = Actor.system("guardian_links")
    return sum(ward_came_of_age(ward=ward, by=by) for ward in wards.iterator(chunk_size=500))


def housekeeping(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Purge what has expired: idempotency keys and used tokens here, and whatever the apps
    that listen to ``signals.housekeeping`` own (scan sessions, single-use claims)."""
    now = now or timezone.now()
    keep = datetime.timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    purged = {
        "idempotency_keys": IdempotencyRecord.objects.filter(created_at__lt=now - keep).delete()[0],
        "refresh_tokens": RefreshToken.objects.filter(expires_at__lt=now).delete()[0],
    }
    for _, counts in signals.housekeeping.send(sender=None, now=now):
        purged.update(counts)  # type: ignore[arg-type]  # receivers answer {name: count}
    return purged
