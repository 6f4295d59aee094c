"""Helpers the tests share: people and codes made the way the app makes them, the served
application, scanners, servers a test starts. Fixtures live in the conftest.py files."""

from __future__ import annotations

import contextlib
import datetime
import io
import itertools
import json
import socket
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core import signals
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.datastructures import CaseInsensitiveMapping
from stdnum.cn import ric

from accounts.models import User
from ecard import notices
from ecard.audit import Actor

ROOT = Path(__file__).resolve().parent.parent  # the repository
# The PIN the fixtures' cards in use were changed to (their initial PIN cannot pay).
HOLDER_PIN = "740285"

# What staff record from a death certificate when cancelling for death (card_cancel).
DEATH_CERTIFICATE = {
    "certificate_number": "D110101202612010001",
    "certificate_issuer": "北京市东城区人民医院",
}

# Debian's Chromium, which the browser tests drive (.ci/run installs it).
CHROMIUM = "/usr/bin/chromium"

# What people saw in the browser and PDF tests; CI keeps the folder as artefacts (not committed).
SCREENSHOTS = ROOT / "var" / "screenshots"


# Every field any notice template names, worded as the services give them.
NOTICE_PARAMS = {
    "card_tail": "5678",
    "valid_until": "2026-12-31",
    "deadline": "2026-12-01 00:00",
    "reason": "死亡",
    "at": "2026-12-01 10:00",
    "age": 16,
    "ward_name": "张*雨",
    "provider": "工商银行",
    "kind": "补领",
    "where": "请于2026-12-31前携带身份证件到东城区社保卡服务网点领取",
    "presenter": "李*",
    "member": "王*",
    "other": "王*",
    "why": "该支付机构已停止提供乘车码支付服务",
    "relationship": "父母",
    "days": 7,
    "minutes": 30,
}


_sequence = itertools.count(1)


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"
)


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


def declare_store_whole() -> None:
    """A store this test emptied (or started) held no claim anyone made: declared whole, as an
    operator does for a first deployment (``manage.py store_epoch``), so that the codes a test
    issues are not refused as older than its epoch."""
    from codes.store import StoreUnavailable, get_store

    try:
        get_store().epoch_declare(0)
    except StoreUnavailable:
        pass  # a test that starts with its store down


PASSWORD = "s3cure-Passw0rd"


ECARD_PASSWORD = "802461"


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
        self.api, self.card, self.phone = api, card, phone
        self.tokens = register_and_sign_in(api, phone)
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}
        response = bind(self, card)
        assert response.status_code == 201, response.json()

    def sign_in_again(self):
        """New tokens, as the app gets after days away (the old access token has expired)."""
        self.tokens = self.api.post(
            "/api/v1/auth/token", {"phone": self.phone, "password": PASSWORD}, format="json"
        ).json()
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {self.tokens['access']}"}

    def get(self, url, **extra):
        return self.api.get(url, **self.auth, **extra)

    def post(self, url, body=None, **extra):
        return self.api.post(url, body or {}, format="json", **self.auth, **extra)

    def delete(self, url, **extra):
        return self.api.delete(url, **self.auth, **extra)


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


def issue_code(holder, purpose="payment") -> str:
    response = holder.post("/api/v1/codes", {"purpose": purpose})
    assert response.status_code == 201, response.json()
    return response.json()["code"]


def free_port() -> int:
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


def make_staff(username: str, group: str | None = None, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    user.is_superuser = superuser
    user.save()
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def clean_stores() -> None:
    """What a model's example starts from and leaves: no notices, an empty cache and store
    (declared whole), no process-local copies."""
    from django.core.cache import cache

    from codes.services import reset_caches

    notices.outbox.clear()
    cache.clear()
    reset_caches()
    declare_store_whole()


def model_settings(*, examples: int, steps: int, randomly: bool, shrink: bool):
    """Hypothesis settings for a stateful model: the same walks in CI each time (``randomly``
    draws new ones, for the long runs), shrunk to the shortest only when asked."""
    from hypothesis import HealthCheck, Phase, settings

    phases = (Phase.explicit, Phase.generate, Phase.shrink) if shrink else (Phase.explicit, Phase.generate)
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=not randomly,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
