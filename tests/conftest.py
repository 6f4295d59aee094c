"""Role fixtures and small factories shared by the suite."""

from __future__ import annotations

import contextlib
import datetime
import io
import itertools
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.datastructures import CaseInsensitiveMapping
from stdnum.cn import ric

from accounts.models import Holder, User
from accounts.services import holder_get_or_create
from ecard import notices, services
from ecard.audit import Actor

# What people saw in the browser and PDF tests; CI keeps the folder as artefacts (not committed).
SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"

_sequence = itertools.count(1)

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"
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


def years_ago(years: int, today: datetime.date | None = None) -> datetime.date:
    """The day ``years`` before ``today`` (Beijing's today unless given): someone born then is
    ``years`` old today. A 29 February with no match in that year becomes the 28th, so a person
    made this way is never a day too young, whatever the date the suite runs on."""
    today = today or timezone.localdate()
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def make_id_number(born: datetime.date | None = None, sequence: int | None = None) -> str:
    """A valid citizen number. A chosen ``sequence`` gets a birth date of its own unless one is
    given, so it never meets a number the running sequence made (which wraps at 1,000)."""
    born = born or (datetime.date(1971, 7, 1) if sequence is not None else datetime.date(1985, 3, 14))
    body = f"110105{born:%Y%m%d}{(sequence or next(_sequence)) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


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


def declare_store_whole() -> None:
    """A store this test emptied (or started) held no claim anyone made: declared whole, as an
    operator does for a first deployment (``manage.py store_epoch``), so that the codes a test
    issues are not refused as older than its epoch."""
    from codes.store import StoreUnavailable, get_store

    try:
        get_store().epoch_declare(0)
    except StoreUnavailable:
        pass  # a test that starts with its store down


@pytest.fixture(autouse=True)
def _fast_hashes_and_clean_cache(settings, _auth_keys_dir, _qr_keys_dir, _pii_keys_dir):
    from codes.services import reset_caches

    # A slow hash per PIN is the point in production and a waste of minutes here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AUTH_JWT_KEYS_DIR = _auth_keys_dir
    settings.QR_SIGNING_KEYS_DIR = _qr_keys_dir
    settings.PII_KEYS_DIR = _pii_keys_dir
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
        **kwargs,
    ):
        return services.card_create(
            holder=holder or make_holder(),
            region=region,
            issued_on=issued_on or timezone.localdate(),
            received_at=timezone.now() if received else None,
            state=state,
            by=system,
            **kwargs,
        )

    return make


@pytest.fixture
def holder(make_holder):
    return make_holder()


@pytest.fixture
def card(make_card, holder):
    return make_card(holder=holder)


def _staff(username: str, group: str | None = None, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    user.is_superuser = superuser
    user.save()
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def clerk(db):
    return _staff("clerk1", "clerk")


@pytest.fixture
def supervisor(db):
    return _staff("supervisor1", "supervisor")


@pytest.fixture
def auditor(db):
    return _staff("auditor1", "auditor")


@pytest.fixture
def staff_client(client):
    def login(user: User):
        client.force_login(user)
        return client

    return login


# --------------------------------------------------------------------------- the holders' API

PASSWORD = "s3cure-Passw0rd"
ECARD_PASSWORD = "802461"


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


def register_and_sign_in(api, phone: str) -> dict:
    assert (
        api.post("/api/v1/auth/register", {"phone": phone, "password": PASSWORD}, format="json").status_code
        == 201
    )
    tokens = api.post("/api/v1/auth/token", {"phone": phone, "password": PASSWORD}, format="json").json()
    return tokens


def sms_code(phone: str) -> str:
    """The one-time code in the last SMS sent to this phone."""
    import re

    texts = [m["text"] for m in notices.outbox if m.get("phone") == phone]
    assert texts, f"no SMS to {phone}"
    return re.search(r"验证码(\d{6})", texts[-1]).group(1)


def bind(account, card, *, password: str = ECARD_PASSWORD, ward=None, token=None, **override):
    """Bind the card's e-card the way the app does: challenge, SMS code, real-person token."""
    named = {"name": card.holder.name, "id_number": card.holder.id_number, "card_number": card.number}
    query = f"?ward={ward}" if ward else ""
    challenge = account.post(f"/api/v1/ecard/apply/challenge{query}", named)
    assert challenge.status_code == 201, challenge.json()
    body = {
        **named,
        "challenge_id": challenge.json()["challenge_id"],
        "sms_code": sms_code(card.holder.phone),
        "identity_token": token or django_settings.IDENTITY_DEV_TOKEN,
        "password": password,
        **override,
    }
    return account.post(f"/api/v1/ecard/apply{query}", body)


class Holder_:
    """A signed-in app user with an e-card: the client, its tokens, and the card behind it."""

    def __init__(self, api, card, phone):
        self.api, self.card = api, card
        self.tokens = register_and_sign_in(api, phone)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}
        response = bind(self, card)
        assert response.status_code == 201, response.json()

    def get(self, url, **extra):
        return self.api.get(url, **self.auth, **extra)

    def post(self, url, body=None, **extra):
        return self.api.post(url, body or {}, format="json", **self.auth, **extra)

    def delete(self, url, **extra):
        return self.api.delete(url, **self.auth, **extra)


@pytest.fixture
def app_holder(db, make_card):
    from rest_framework.test import APIClient

    return Holder_(APIClient(), make_card(), "13800000001")


@pytest.fixture
def other_app_holder(db, make_card, make_holder):
    from rest_framework.test import APIClient

    return Holder_(APIClient(), make_card(holder=make_holder(name="李四")), "13800000002")


# --------------------------------------------------------------------------- the served application


@contextlib.contextmanager
def transaction_kept_open():
    """Requests sent straight to the WSGI application, not through Django's test client,
    would close the test's transaction in the per-request connection clean-up: switch it
    off as the test client does around each of its own requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


class Served:
    """An answer of the application gunicorn serves (``config.wsgi.application``), shaped
    like the test client's: ``status_code``, ``json()``, ``content``, ``response["Header"]``."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes):
        self.status_code = int(status.split(" ", 1)[0])
        self.reason = status.split(" ", 1)[1]
        self.header_list = headers
        self.headers = CaseInsensitiveMapping(dict(headers))
        self.content = content

    def json(self):
        return json.loads(self.content)

    def __getitem__(self, name):
        return self.headers[name]

    def __contains__(self, name):
        return name in self.headers


def wsgi_environ(method: str, path: str, body: bytes = b"", *, headers=None, query="") -> dict:
    """A request as gunicorn hands it to the application."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_HOST": "testserver",
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


def serve(method: str, path: str, body: bytes = b"", *, headers=None, query="", app=None) -> Served:
    """One request through the served WSGI application (or ``app``), its body read and
    closed as gunicorn does. Safe from several threads of a ``transaction=True`` test."""
    from config.wsgi import application

    environ = wsgi_environ(method, path, body, headers=headers, query=query)
    started = []

    def start_response(status, response_headers, exc_info=None):
        started.append((status, response_headers))

    # Inside a test's transaction (not in a transaction=True test's threads) keep it open.
    keep = transaction_kept_open() if connection.in_atomic_block else contextlib.nullcontext()
    with keep:
        result = (app or application)(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    return Served(*started[0], content)


# --------------------------------------------------------------------------- scanners


class Scanner:
    """A registered device holding its private key; signs its own bearer JWTs."""

    def __init__(
        self,
        organisation="北京地铁",
        kind="transit_gate",
        purposes=("payment", "transit", "culture", "identity"),
        algorithm="Ed25519",
    ):
        from rest_framework.test import APIClient

        from codes import verifier
        from codes.services import scanner_register

        scheme = verifier.ALGORITHMS[algorithm]
        self.key = scheme.generate()
        self.device = scanner_register(
            organisation=organisation,
            kind=kind,
            purposes=list(purposes),
            public_key=verifier.b64url(scheme.public_raw(self.key.public_key())),
            by=Actor.system("tests"),
        )
        self.jws_alg = scheme.jws_alg
        self.api = APIClient()
        self.token = self.jwt()

    def jwt(self, **overrides) -> str:
        """The device's assertion, or one with claims changed (None drops a claim) to test refusals."""
        import jwt

        from codes.verifier import device_assertion

        if not overrides:
            return device_assertion(self.device.device_id, self.key)
        assertion = device_assertion(self.device.device_id, self.key)
        claims = jwt.decode(assertion, options={"verify_signature": False})
        claims.update(overrides)
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None}, self.key, algorithm=self.jws_alg
        )

    def auth(self, token=None):
        return {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}

    def verify(self, code: str, token=None, **headers):
        """Through the application gunicorn serves, where scanners' verifications take the
        front door of plumbing/fastpath.py."""
        if token:
            headers = {"Authorization": f"Bearer {token}", **headers}
        return self.post({"code": code}, **headers)

    def post(self, body, *, app=None, query="", **headers):
        """``POST /api/v1/scanner/verify`` of any body (bytes as they are, else its JSON),
        signed in unless ``Authorization`` says otherwise; through ``app`` if given."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **headers}
        return serve("POST", "/api/v1/scanner/verify", raw, headers=headers, query=query, app=app)

    def verdict(self, code: str) -> dict:
        response = self.verify(code)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def scanner(db):
    return Scanner()


@pytest.fixture
def make_scanner(db):
    return Scanner


def issue_code(holder, purpose="payment") -> str:
    response = holder.post("/api/v1/codes", {"purpose": purpose})
    assert response.status_code == 201, response.json()
    return response.json()["code"]


# --------------------------------------------------------------------------- a Redis to stop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int) -> None:
    """Until a server this test run started answers on 127.0.0.1:port (5 s at the most)."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own, so stopping it disturbs nothing else."""
    from codes.services import reset_caches

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
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


# --------------------------------------------------------------------------- a Redis Cluster


class RedisCluster:
    """Three redis-server primaries on 127.0.0.1 joined into a cluster, for one test module."""

    def __init__(self, directory):
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            pytest.skip("redis-server is not installed")
        self.ports = [self._free_cluster_port() for _ in range(3)]
        self.processes = {}
        for port in self.ports:
            self.processes[port] = subprocess.Popen(
                [
                    binary,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                    "--cluster-node-timeout", "1000",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(directory),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port in self.ports:
            wait_for_port(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
        )
        for _ in range(100):
            states = [
                subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True
                ).stdout
                for port in self.ports
            ]
            if all("cluster_state:ok" in state for state in states):
                break
            time.sleep(0.1)
        else:
            self.close()
            raise RuntimeError("the test Redis Cluster did not come up")
        self.url = "redis+cluster://" + ",".join(nodes)

    @staticmethod
    def _free_cluster_port() -> int:
        """A port free with its cluster-bus port (+10000), which must stay under 65536."""
        import random

        for _ in range(200):
            port = random.randint(20000, 29999)
            try:
                for candidate in (port, port + 10000):
                    with socket.socket() as sock:
                        sock.bind(("127.0.0.1", candidate))
                return port
            except OSError:
                continue
        raise RuntimeError("no free port pair for a Redis Cluster node")

    def port_of_slot(self, slot: int) -> int:
        import redis

        for entry in redis.Redis(port=self.ports[0]).cluster("slots"):
            low, high, primary = entry[0], entry[1], entry[2]
            if low <= slot <= high:
                return int(primary[1])
        raise LookupError(slot)

    def stop(self, port: int) -> None:
        self.processes[port].kill()
        self.processes[port].wait()

    def close(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()


@pytest.fixture
def redis_cluster(tmp_path, settings):
    """A fresh 3-primary cluster (a test may stop one of its primaries); the store and the
    cache pointed at it for the test."""
    from codes.services import reset_caches

    cluster = RedisCluster(tmp_path)
    store, caches = settings.QR_STORE_URL, settings.CACHES
    settings.QR_STORE_URL = cluster.url
    settings.CACHES = {
        "default": {"BACKEND": "plumbing.rediscluster.RedisClusterCache", "LOCATION": [cluster.url]}
    }
    reset_caches()
    declare_store_whole()
    yield cluster
    # Back on the suite's own cache before the cluster goes: the clean-up clears that cache.
    settings.QR_STORE_URL, settings.CACHES = store, caches
    cluster.close()
    reset_caches()
