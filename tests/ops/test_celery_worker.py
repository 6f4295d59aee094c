"""The jobs through a real Celery worker and beat on Redis and PostgreSQL (started here, stopped after)."""

import datetime
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app
from ecard import services, tasks
from ecard.models import Notice
from tests.support import ROOT, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def wait_for(condition, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def start_worker(tmp_path):
    """Start workers (each with an embedded beat) on the test database and a queue of this
    test's own; ``start_worker(**env)`` starts one more, with settings of its own."""
    queue = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # no worker of an earlier test takes it
    started = []

    def start(**extra) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0]
            + "/"
            + connection.settings_dict["NAME"],
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": "worker-test",
            "QR_SIGNING_KEYS_DIR": str(settings.QR_SIGNING_KEYS_DIR),
            # The rows it reads are sealed with the run's keys (a card's printed name among them).
            "PII_KEYS_DIR": str(settings.PII_KEYS_DIR),
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            **extra,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--beat",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--schedule", str(tmp_path / f"beat{len(started)}"),
            "--pool", "solo", "--loglevel", "WARNING", "-Q", queue,
        ]  # fmt: skip
        # A session of its own: the embedded beat is a child process, signalled with it.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(process)
        return process

    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    yield start
    for process in started:
        _signal_group(process, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
        time.sleep(0.5)  # the group's beat too
    app.conf.task_always_eager = True
    app.conf.task_default_queue = "celery"


def _signal_group(process, sig):
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def worker(start_worker):
    return start_worker()


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


class FileChannel:
    """A gateway that writes down every notice handed to it, one line each, a little slowly."""

    name = "sms"

    def send(self, notice):
        with open(os.environ["NOTICE_FILE"], "a") as handed:
            handed.write(f"{notice.public_id}\n")
        time.sleep(0.002)

    def send_text(self, *, phone, text):
        pass


def test_a_worker_killed_mid_delivery_leaves_no_notice_undelivered_or_handed_over_twice(
    start_worker, holder, tmp_path
):
    handed = tmp_path / "handed.txt"
    handed.touch()
    Notice.objects.bulk_create(
        Notice(holder=holder, kind="card.expiring", subject=str(n), milestone="t", title="t", body="b")
        for n in range(1500)
    )
    env = {
        "NOTICE_CHANNELS": "tests.ops.test_celery_worker.FileChannel",
        "NOTICE_FILE": str(handed),
        # Short here so the test sees it: a killed worker's task back on the queue, and the
        # one notice it was handing over taken over by the next deliverer.
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "4",
        "NOTICE_CLAIM_STALE_SECONDS": "2",
    }
    first = start_worker(**env)
    tasks.notices_deliver.delay()
    assert wait_for(lambda: len(handed.read_text().splitlines()) >= 300)
    _signal_group(first, signal.SIGKILL)  # mid-job: its task unacknowledged, a batch half handed over
    first.wait()
    start_worker(**env)
    assert wait_for(lambda: not Notice.objects.filter(delivered_at__isnull=True).exists(), seconds=90), (
        Notice.objects.filter(delivered_at__isnull=True).count()
    )
    lines = handed.read_text().splitlines()
    twice = len(lines) - len(set(lines))
    # Before: 362 of them handed to the SMS channel twice, and 10,186 missing until a rerun.
    assert len(set(lines)) == 1500
    assert twice <= 1, twice  # at most the one in flight at the kill, under its own id again
