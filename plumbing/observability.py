"""Seeing what the service does: request ids (carried into Celery), JSON logs, metrics, health.

Nothing here logs personal data: log lines carry ids, codes and masked values only.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import signals as celery_signals
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# --------------------------------------------------------------------------- metrics

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Any process (migrate, a worker) may load this before gunicorn made the folder.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

VERIFICATIONS = Counter("ecard_verifications_total", "Scanner verifications", ["purpose", "result"])
VERIFY_SECONDS = Histogram(
    "ecard_verify_seconds",
    "Time to verify a code online",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
CODES_ISSUED = Counter("ecard_codes_issued_total", "QR codes issued", ["purpose"])
NOTICES_SENT = Counter("ecard_notices_sent_total", "Notices delivered", ["kind"])
HTTP_REQUESTS = Counter("ecard_http_requests_total", "HTTP requests", ["method", "status"])


def metrics_allowed(request: HttpRequest) -> bool:
    """The scraper, and nobody else: the bearer ``METRICS_TOKEN`` when one is set, else a
    client address in ``METRICS_ALLOWED_NETWORKS`` (loopback by default; through the balancer
    the client is the one it names, so the world never counts as inside)."""
    import ipaddress
    import secrets

    from django.conf import settings

    from .api import client_address

    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        return secrets.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; with several gunicorn workers, the sum of all of them."""
    if not metrics_allowed(request):
        from django.http import JsonResponse

        from .errors import DomainError

        return JsonResponse(DomainError("request.not_found").as_dict(), status=404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


# --------------------------------------------------------------------------- request ids


class RequestIdMiddleware:
    """Take the load balancer's X-Request-ID (or make one), log with it, send it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_for(request.headers.get("X-Request-ID", ""))
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        http_request_counted(request.method or "", response.status_code)
        return response


def request_id_for(incoming: str) -> str:
    """The request's id: the load balancer's if it is a safe one, else a new one; set for
    this thread's log lines. Left set until the next request on the thread replaces it:
    Django writes its own log line for a failed request after every middleware returned."""
    rid = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
    request_id.set(rid)
    return rid


_http_counters: dict[tuple[str, int], Any] = {}


def http_request_counted(method: str, status: int) -> None:
    counter = _http_counters.get((method, status))
    if counter is None:  # labels() takes a lock and builds a key: once per method and status
        counter = _http_counters.setdefault((method, status), HTTP_REQUESTS.labels(method, status))
    counter.inc()


_make_record = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    record.request_id = request_id.get()
    return record


# On the record itself, so every handler and formatter sees it, not just ours.
logging.setLogRecordFactory(_record_with_request_id)


class RequestIdFilter(logging.Filter):
    """For records made before this module was imported."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


@celery_signals.before_task_publish.connect
def _carry_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    if headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id.get()


@celery_signals.task_prerun.connect
def _adopt_request_id(task: Any = None, **kwargs: Any) -> None:
    rid = getattr(task.request, "request_id", None) or (task.request.headers or {}).get("request_id")
    current = request_id.get()
    if not rid:  # an eager task runs inside the request that queued it
        rid = current if current != "-" else f"task-{task.request.id}"
    task.request.__dict__["_ecard_rid_token"] = request_id.set(rid)


@celery_signals.task_postrun.connect
def _drop_request_id(task: Any = None, **kwargs: Any) -> None:
    token = task.request.__dict__.pop("_ecard_rid_token", None)
    if token is not None:
        request_id.reset(token)


# --------------------------------------------------------------------------- health


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers. Also the bare endpoint benchmarks compare verification against."""
    return JsonResponse({"status": "ok"})


_readiness_checks: dict[str, Callable[[], object]] = {}


def readiness_check(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register a check for ``/readyz``: a function that raises when its part is not ready.

    Apps register theirs in ``AppConfig.ready()`` (``codes``: an active signing key), so
    this module imports no app.
    """

    def register(check: Callable[[], None]) -> Callable[[], None]:
        _readiness_checks[name] = check
        return check

    return register


_readiness_notes: dict[str, Callable[[], str | None]] = {}


def readiness_note(name: str, note: Callable[[], str | None]) -> None:
    """Register something ``/readyz`` reports without failing (``warnings`` in its body): the
    service is ready, but staff must act soon (the holiday calendar running out)."""
    _readiness_notes[name] = note


def readyz(request: HttpRequest) -> HttpResponse:
    """Ready for traffic: the database, Redis and every registered check (signing key) answer."""
    from django.conf import settings

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"failed: {type(exc).__name__}"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"failed: {type(exc).__name__}"
    for name, check in _readiness_checks.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # a failed check of any kind means not ready
            checks[name] = f"failed: {type(exc).__name__}"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not failed else "not_ready", "checks": checks, "failed": failed}
    warnings = {}
    for name, note in _readiness_notes.items():
        try:
            text = note()
        except Exception as exc:  # a note that cannot be read is itself worth a warning
            text = f"failed: {type(exc).__name__}"
        if text:
            warnings[name] = text
    if warnings:
        body["warnings"] = warnings
    return JsonResponse(body, status=200 if not failed else 503)


def timed_verification(purpose: str | None, result: str, started: float) -> None:
    VERIFICATIONS.labels(purpose or "unknown", result).inc()
    VERIFY_SECONDS.observe(time.perf_counter() - started)
