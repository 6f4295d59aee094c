"""Role fixtures shared by the whole suite (a holder, another holder, staff of each role, a
scanner), the moved clock, and the clean state each test starts from. Each folder's
conftest.py holds only its own fixtures; helpers are in tests/support.py."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess

import pytest
import time_machine
from django import conf as django_conf
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from accounts.models import Holder, User
from accounts.services import holder_get_or_create
from ecard import notices, services
from ecard.audit import Actor
from tests.support import (
    HOLDER_PIN,
    Holder_,
    Scanner,
    _sequence,
    declare_store_whole,
    free_port,
    make_id_number,
    make_staff,
    wait_for_port,
)


def pytest_configure(config):
    """``TEST_CLOCK=2028-02-29T10:00:00+08:00`` runs the suite with the clock moved there (and
    ticking): CI reruns the date-sensitive tests (``-m dates``) so on a few awkward days, so that a
    hidden dependency on today's date fails in CI rather than on some future morning."""
    config.addinivalue_line("markers", "dates: depends on the calendar; CI reruns it with the clock moved")
    when = os.environ.get("TEST_CLOCK")
    if when:
        moved = datetime.datetime.fromisoformat(when)
        if moved.tzinfo is None:
            raise pytest.UsageError("TEST_CLOCK needs a UTC offset, e.g. 2028-02-29T10:00:00+08:00")
        time_machine.travel(moved, tick=True).start()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Tests that restore the migrated rows (``serialized_rollback``: the browser tests, whose
    live server needs committed data) run before any other transactional test. Django's flush
    after one of those re-creates content types and permissions under new ids, and restoring
    the migrated rows over them then fails on their unique names: an order that happens to
    put the browser tests first must not be what keeps them working."""

    def kind(item):
        marker = item.get_closest_marker("django_db")
        if marker is None:
            return None
        if marker.kwargs.get("serialized_rollback"):
            return "serialized"
        return "transaction" if marker.kwargs.get("transaction") else None

    serialized = [item for item in items if kind(item) == "serialized"]
    rest = [item for item in items if kind(item) != "serialized"]
    first = next((n for n, item in enumerate(rest) if kind(item) == "transaction"), None)
    if serialized and first is not None:
        items[:] = rest[:first] + serialized + rest[first:]


@pytest.fixture(scope="session")
def _auth_keys_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("auth-keys")


@pytest.fixture(autouse=True)
def _celery_in_process():
    # Tasks run inline here; test_celery_worker.py switches this off to use a real worker.
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(scope="session")
def _qr_keys_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("qr-keys")


@pytest.fixture(scope="session")
def _pii_keys_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pii-keys")


@pytest.fixture(scope="session", autouse=True)
def _key_folders(_auth_keys_dir, _qr_keys_dir, _pii_keys_dir):
    """The key folders, for the whole run: set once, never restored between tests. A browser
    test's page may still be asking the live server when its test ends; restored to the
    defaults then, a key folder read by that request would be an empty one, and the key made
    there would seal rows no later test can open."""
    from plumbing import pii

    django_conf.settings.AUTH_JWT_KEYS_DIR = _auth_keys_dir
    django_conf.settings.QR_SIGNING_KEYS_DIR = _qr_keys_dir
    django_conf.settings.PII_KEYS_DIR = _pii_keys_dir
    pii.forget_keys()


@pytest.fixture(autouse=True)
def _fast_hashes_and_clean_cache(settings, _key_folders, _qr_keys_dir):
    from codes.services import reset_caches

    # A slow hash per PIN is the point in production and a waste of minutes here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = _qr_keys_dir.parent / "media"  # uploaded photos stay out of the tree
    # SMS one-time codes and notices land in ecard.notices.outbox, as mail in mail.outbox.
    settings.NOTICE_CHANNELS = ["ecard.notices.LoggingChannel", "ecard.notices.OutboxChannel"]
    notices.outbox.clear()
    cache.clear()  # on Redis: FLUSHDB, which also empties the single-use store
    reset_caches()
    declare_store_whole()
    yield
    cache.clear()
    reset_caches()
    # The test client's requests leave their language active in this thread (LocaleMiddleware
    # activates and never resets): the next test starts in the site's language again.
    translation.activate(django_conf.settings.LANGUAGE_CODE)


@pytest.fixture
def system():
    return Actor.system("tests")


@pytest.fixture
def make_holder(db, system):
    def make(name: str = "张三丰", born: datetime.date = datetime.date(1985, 3, 14), **kwargs) -> Holder:
        kwargs.setdefault("phone", f"139{next(_sequence):08d}")  # the phone on file
        holder, _ = holder_get_or_create(
            name=name,
            id_type="resident_id",
            id_number=kwargs.pop("id_number", None) or make_id_number(born),
            by=system,
            **kwargs,
        )
        return holder

    return make


@pytest.fixture
def make_card(db, make_holder, system):
    def make(
        state: str = "active",
        *,
        holder: Holder | None = None,
        received: bool = True,
        region: str = "11",
        issued_on: datetime.date | None = None,
        pin: str | None = HOLDER_PIN,
        **kwargs,
    ):
        """A card as its holder has it. An active card in hand has had its initial PIN changed
        to ``pin`` (as a card in use has: the initial PIN cannot pay); ``pin=None`` keeps it."""
        card = services.card_create(
            holder=holder or make_holder(),
            region=region,
            issued_on=issued_on or timezone.localdate(),
            received_at=timezone.now() if received else None,
            state=state,
            by=system,
            **kwargs,
        )
        if pin is not None and state == "active" and received:
            card = services.card_change_pin(
                card=card, old_pin=settings.CARD_INITIAL_PIN, new_pin=pin, by=system
            )
        return card

    return make


@pytest.fixture
def holder(make_holder):
    return make_holder()


@pytest.fixture
def card(make_card, holder):
    return make_card(holder=holder)


@pytest.fixture
def clerk(db):
    return make_staff("clerk1", "clerk")


@pytest.fixture
def supervisor(db):
    return make_staff("supervisor1", "supervisor")


@pytest.fixture
def auditor(db):
    return make_staff("auditor1", "auditor")


@pytest.fixture
def staff_client(client):
    def login(user: User):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def app_holder(db, make_card):
    from rest_framework.test import APIClient

    return Holder_(APIClient(), make_card(), "13800000001")


@pytest.fixture
def other_app_holder(db, make_card, make_holder):
    from rest_framework.test import APIClient

    return Holder_(APIClient(), make_card(holder=make_holder(name="李四")), "13800000002")


@pytest.fixture
def scanner(db):
    return Scanner()


@pytest.fixture
def make_scanner(db):
    return Scanner


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own, so stopping it disturbs nothing else."""
    from codes.services import reset_caches

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    settings.QR_STORE_URL = f"redis://127.0.0.1:{port}/0"
    reset_caches()
    declare_store_whole()
    yield process
    process.kill()
    process.wait()
    reset_caches()
