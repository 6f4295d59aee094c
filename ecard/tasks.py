"""Celery tasks: thin shells that take ids and dates and call the job services.

Delivery is at least once; every job is idempotent, so a redelivered or retried task, or
two beat processes, change nothing twice. Transient errors (database, broker, delivery
channel) are retried with exponential backoff.
"""

import datetime

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from . import jobs, notices, services

TRANSIENT = (OperationalError, InterfaceError, notices.TransientDeliveryError, ConnectionError, TimeoutError)
RETRY = {
    "acks_late": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="ecard.expiry_notices", **RETRY)
def expiry_notices(today: str | None = None) -> int:
    """Fan out: one task per primary-key chunk of cards."""
    day = today or timezone.localdate().isoformat()
    chunks = jobs.expiry_chunks()
    for low, high in chunks:
        expiry_notices_chunk.delay(low, high, day)
    return len(chunks)


@shared_task(name="ecard.expiry_notices_chunk", **RETRY)
def expiry_notices_chunk(low: int, high: int, today: str) -> int:
    return jobs.expiry_notices_chunk(low=low, high=high, today=datetime.date.fromisoformat(today))


@shared_task(name="ecard.loss_deadlines", **RETRY)
def loss_deadlines() -> dict:
    return jobs.loss_deadlines().__dict__


@shared_task(name="ecard.replacement_ready", **RETRY)
def replacement_ready() -> int:
    return jobs.replacement_ready()


@shared_task(name="ecard.guardian_links", **RETRY)
def guardian_links() -> int:
    return jobs.guardian_links()


@shared_task(name="ecard.calendar_check", **RETRY)
def calendar_check() -> bool:
    return services.calendar_check()


@shared_task(name="ecard.housekeeping", **RETRY)
def housekeeping() -> dict:
    return jobs.housekeeping()


@shared_task(name="ecard.notices_deliver", **RETRY)
def notices_deliver() -> int:
    return notices.notices_deliver()
