"""Role fixtures and small factories shared by the suite."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from stdnum.cn import ric

from accounts.models import Holder, User
from accounts.services import holder_get_or_create
from ecard import services
from ecard.audit import Actor

_sequence = itertools.count(1)

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"
)


def make_id_number(
    born: datetime.date = datetime.date(1985, 3, 14), sequence: int | None = None
) -> str:
    body = f"110105{born:%Y%m%d}{(sequence or next(_sequence)) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(autouse=True)
def _fast_hashes_and_clean_cache(settings):
    # A slow hash per PIN is the point in production and a waste of minutes here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def system():
    return Actor.system("tests")


@pytest.fixture
def make_holder(db, system):
    def make(
        name: str = "张三丰", born: datetime.date = datetime.date(1985, 3, 14), **kwargs
    ) -> Holder:
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
