"""A database outage as the verify hot path sees it.

After one failure, the callers that can answer from what they hold (a scanner's device, the
card changes poll) leave the database alone for ``DATABASE_RETRY_SECONDS`` instead of each
waiting for a connection that will not come: during a 20 s outage a scan costs a wait at
most once per process and interval, not on every request."""

from __future__ import annotations

import time

from django.conf import settings

_down_until = 0.0


def database_down() -> bool:
    return time.monotonic() < _down_until


def database_failed() -> None:
    global _down_until
    _down_until = time.monotonic() + settings.DATABASE_RETRY_SECONDS


def forget() -> None:
    global _down_until
    _down_until = 0.0
