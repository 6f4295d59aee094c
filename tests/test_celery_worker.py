"""The jobs through a real Celery worker and beat on Redis and PostgreSQL (started here, stopped after)."""

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from ecard import services, tasks
from ecard.celery import app
from ecard.models import Notice

from .conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def worker(tmp_path):
    """A worker with an embedded beat, on the test database, with its own queue."""
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": "worker-test",
        "QR_SIGNING_KEYS_DIR": str(settings.QR_SIGNING_KEYS_DIR),
        "CELERY_TASK_DEFAULT_QUEUE": f"test-{os.getpid()}",
    }
    app.conf.task_always_eager = False
    app.conf.task_default_queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ecard",
        "worker",
        "--beat",
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
        "--schedule",
        str(tmp_path / "beat"),
        "--pool",
        "solo",
        "--loglevel",
        "WARNING",
        "-Q",
        env["CELERY_TASK_DEFAULT_QUEUE"],
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    app.conf.task_always_eager = True
    app.conf.task_default_queue = "celery"


def test_a_real_worker_runs_the_expiry_job_and_a_second_run_adds_nothing(worker, make_card):
    today = timezone.localdate()
    make_card(
        issued_on=today - datetime.timedelta(days=3000), valid_until=today + datetime.timedelta(days=45)
    )
    tasks.expiry_notices.delay()
    assert wait_for(lambda: Notice.objects.filter(kind="card.expiring").exists())
    tasks.expiry_notices.delay()
    tasks.expiry_notices.delay()
    time.sleep(3)
    assert Notice.objects.filter(kind="card.expiring").count() == 1
    assert wait_for(lambda: Notice.objects.filter(delivered_at__isnull=False).count() == 1)


def test_beat_runs_a_schedule_edited_in_the_database(worker, card, system):
    services.card_report_formal_loss(card=card, by=system)
    new = services.card_apply_replacement(card=card, kind="loss", by=system)
    type(new).objects.filter(pk=new.pk).update(ready_on=timezone.localdate())
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="test: replacement ready",
        task="ecard.replacement_ready",
        interval=every_second,
        queue=app.conf.task_default_queue,
    )
    assert wait_for(lambda: Notice.objects.filter(kind="replacement.ready").exists(), seconds=40)
    time.sleep(3)  # beat keeps running it: still one notice
    assert Notice.objects.filter(kind="replacement.ready").count() == 1
