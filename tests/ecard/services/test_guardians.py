"""A guardian acts for a ward only while the ward is under HOLDER_GUARDIAN_AGE (16)."""

import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from accounts.services import holder_set_guardian
from ecard.models import Notice
from plumbing.errors import DomainError
from tests.support import Holder_, bind

pytestmark = [pytest.mark.django_db, pytest.mark.dates]
SHANGHAI = ZoneInfo("Asia/Shanghai")
BIRTHDAY = datetime.date(2026, 12, 3)  # the ward's 16th
BORN = BIRTHDAY.replace(year=BIRTHDAY.year - 16)


def run_job(name: str) -> str:
    out = StringIO()
    call_command("run_job", name, stdout=out)
    return out.getvalue()


def test_a_guardians_link_ends_on_the_wards_sixteenth_birthday(
    make_card, make_holder, system, make_scanner, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient

    eve = datetime.datetime.combine(
        BIRTHDAY - datetime.timedelta(days=1), datetime.time(23, 59, 30), SHANGHAI
    )
    with time_machine.travel(eve, tick=False):
        guardian = Holder_(APIClient(), make_card(holder=make_holder(name="张伟")), "13800000001")
        ward = make_holder(name="张小雨", born=BORN)
        holder_set_guardian(holder=ward, guardian=guardian.card.holder, proof="birth_certificate", by=system)
        card = make_card(holder=ward)
        assert bind(guardian, card, ward=ward.public_id).status_code == 201
        assert guardian.get(f"/api/v1/ecard?ward={ward.public_id}").status_code == 200
        shown = guardian.post(f"/api/v1/codes?ward={ward.public_id}", {"purpose": "identity"}).json()["code"]

    midnight = datetime.datetime.combine(BIRTHDAY, datetime.time(0, 0, 5), SHANGHAI)
    with time_machine.travel(midnight, tick=False):
        # From the birthday on, before the night's job: the ward is out of reach.
        assert guardian.get(f"/api/v1/ecard?ward={ward.public_id}").status_code == 404
        assert (
            guardian.post(f"/api/v1/codes?ward={ward.public_id}", {"purpose": "identity"}).status_code == 404
        )
        assert [w["id"] for w in guardian.get("/api/v1/wards").json()] == []

    after_job = datetime.datetime.combine(BIRTHDAY, datetime.time(0, 0, 20), SHANGHAI)
    with time_machine.travel(after_job, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert "1 links ended" in run_job("guardian_links")
        assert "0 links ended" in run_job("guardian_links")
        ward.refresh_from_db()
        assert ward.guardian is None and ward.guardian_proof == ""
        # The code the guardian showed for the ward, still within its lifetime, is refused.
        assert make_scanner().verdict(shown)["code"] == "code.revoked"
        told = dict(Notice.objects.filter(kind__startswith="guardian.").values_list("kind", "holder_id"))
        assert told == {"guardian.ended_ward": ward.pk, "guardian.ended_guardian": guardian.card.holder.pk}
        assert ward.audit_events.filter(action="holder.guardian_ended").exists()


def test_the_job_leaves_a_ward_under_sixteen_alone(make_holder, system):
    # The link is made a month before the birthday, on a clock the test sets, so the test
    # says the same thing on any day it runs.
    with time_machine.travel(
        datetime.datetime.combine(BIRTHDAY - datetime.timedelta(days=30), datetime.time(12), SHANGHAI),
        tick=False,
    ):
        guardian = make_holder(name="张伟")
        ward = make_holder(name="张小雨", born=BORN)
        holder_set_guardian(holder=ward, guardian=guardian, proof="birth_certificate", by=system)
    with time_machine.travel(
        datetime.datetime.combine(BIRTHDAY, datetime.time(), SHANGHAI) - datetime.timedelta(seconds=1)
    ):
        assert "0 links ended" in run_job("guardian_links")
    ward.refresh_from_db()
    assert ward.guardian == guardian


def test_an_adult_cannot_be_linked_as_a_ward(make_holder, system):
    adult = make_holder(name="张小雨", born=datetime.date(2000, 1, 1))
    with pytest.raises(DomainError) as refused:
        holder_set_guardian(
            holder=adult, guardian=make_holder(name="张伟"), proof="birth_certificate", by=system
        )
    assert refused.value.code == "holder.not_minor"


def test_staff_cannot_link_an_adult_as_a_ward_in_the_admin(staff_client, clerk, make_holder):
    adult = make_holder(name="张小雨", born=datetime.date(2000, 1, 1))
    parent = make_holder(name="张伟")
    url = reverse("admin:accounts_holder_change", args=[adult.pk])
    response = staff_client(clerk).post(
        url, {"phone": adult.phone, "guardian": parent.pk, "guardian_proof": "birth_certificate"}
    )
    assert response.status_code == 200 and "被监护人须未满16周岁" in response.content.decode()
    adult.refresh_from_db()
    assert adult.guardian is None
