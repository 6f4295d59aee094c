"""Card rules that hold on real dates and ordinary journeys: a loss report is never refused."""

import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from ecard import services
from ecard.audit import Actor
from ecard.models import AuditEvent, Card, CardState, ECard, Notice
from tests.support import Holder_

pytestmark = [pytest.mark.django_db, pytest.mark.dates]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args):
    return time_machine.travel(datetime.datetime(*args, tzinfo=SHANGHAI), tick=False)


def enter_2027(client):
    """Staff enter the 2027 schedule in the admin: New Year's Day off."""
    data = {
        "year": "2027",
        "note": "国办发明电",
        "days-TOTAL_FORMS": "1",
        "days-INITIAL_FORMS": "0",
        "days-0-date": "2027-01-01",
        "days-0-name": "元旦",
    }
    response = client.post(reverse("admin:ecard_calendaryear_add"), data)
    assert response.status_code == 302


class TestYearEnd:
    def test_a_loss_reported_on_29_december_takes_effect_and_its_deadline_is_recomputed(
        self, make_card, staff_client, clerk
    ):
        from rest_framework.test import APIClient

        with at(2026, 12, 29, 10, 0):
            holder = Holder_(APIClient(), make_card(), "13800000001")
            response = holder.post("/api/v1/card/loss-report")
            assert response.status_code == 200
            card = response.json()["card"]
            assert card["state"] == "temporarily_lost" and card["deadline_provisional"] is True
            # 30 and 31 December, then Monday 4 January: 1–3 January may be New Year's days off,
            # so they are not counted (provisional, and never earlier than the real deadline).
            assert card["formalisation_deadline"].startswith("2027-01-05T00:00")
            enter_2027(staff_client(clerk))
            card = holder.get("/api/v1/ecard").json()["card"]
            # New Year's Day is a holiday indeed: the third working day is Monday 4 January.
            assert card["formalisation_deadline"].startswith("2027-01-05T00:00")
            assert card["deadline_provisional"] is False
            assert AuditEvent.objects.filter(action="card.deadline_recomputed").count() == 1

    def test_a_loss_reported_on_30_december_never_lapses_before_its_real_deadline(
        self, make_card, staff_client, clerk
    ):
        from rest_framework.test import APIClient

        with at(2026, 12, 30, 10, 0):
            holder = Holder_(APIClient(), make_card(), "13800000001")
            card = holder.post("/api/v1/card/loss-report").json()["card"]
            # 31 December, then Monday 4 and Tuesday 5 January: not 5 January with 1 January
            # counted as a working day, which would lapse the loss a day early.
            assert card["formalisation_deadline"].startswith("2027-01-06T00:00")
            assert card["deadline_provisional"] is True
            enter_2027(staff_client(clerk))
            card = holder.get("/api/v1/ecard").json()["card"]
            assert card["formalisation_deadline"].startswith("2027-01-06T00:00")
            assert card["deadline_provisional"] is False
        with at(2027, 1, 5, 23, 50):
            call_command("run_job", "loss_deadlines", stdout=StringIO())
            assert Card.objects.get(pk=holder.card.pk).state == CardState.TEMPORARILY_LOST

    @pytest.mark.parametrize("day", [11, 20, 31])
    def test_replacement_and_renewal_in_december_2026_succeed_with_provisional_pick_up_dates(
        self, make_card, make_holder, system, staff_client, clerk, day
    ):
        with at(2026, 12, day, 10, 0):
            lost = services.card_report_formal_loss(card=make_card(), by=system)
            replacement = services.card_apply_replacement(card=lost, kind="loss", by=system)
            expiring = make_card(
                holder=make_holder(name="李四"),
                issued_on=datetime.date(2017, 1, 20),
                valid_until=datetime.date(2027, 1, 20),
            )
            renewal = services.card_apply_renewal(card=expiring, by=system)
            assert replacement.ready_on.year == renewal.ready_on.year == 2027
            assert replacement.ready_on_provisional and renewal.ready_on_provisional
            before = renewal.ready_on
            enter_2027(staff_client(clerk))
            renewal.refresh_from_db()
            assert not renewal.ready_on_provisional
            # The provisional date skipped every day 2027's holidays could take: the real one
            # (only 1 January off) is never later.
            assert renewal.ready_on <= before

    def test_the_warning_shows_from_sixty_days_before_the_calendar_ends(
        self, client, staff_client, supervisor, clerk
    ):
        supervisor.email = "supervisor@outlet.example.gov.cn"
        supervisor.save()
        with at(2026, 10, 31, 12, 0):
            assert "warnings" not in client.get("/readyz").json()
            assert "calendar-warning" not in staff_client(clerk).get("/admin/").content.decode()
            assert not services.calendar_check()
        with at(2026, 11, 1, 12, 0):
            ready = client.get("/readyz")
            assert ready.status_code in (200, 503) and "2027" in ready.json()["warnings"]["calendar"]
            page = staff_client(clerk)
            assert 'id="calendar-warning"' in page.get("/admin/").content.decode()
            assert 'id="calendar-warning"' in page.get("/admin/dashboard/").content.decode()
            out = StringIO()
            call_command("run_job", "calendar_check", stdout=out)
            assert "supervisors told" in out.getvalue()
            call_command("run_job", "calendar_check", stdout=StringIO())
            assert [m.to for m in mail.outbox] == [["supervisor@outlet.example.gov.cn"]]
            enter_2027(page)
            assert "warnings" not in client.get("/readyz").json()


class TestLossesAlwaysTakeEffect:
    def test_a_collected_card_not_yet_enabled_is_reported_lost_from_the_app(self, make_card):
        from rest_framework.test import APIClient

        holder = Holder_(APIClient(), make_card("sealed"), "13800000001")
        response = holder.post("/api/v1/card/loss-report")
        assert response.status_code == 200 and response.json()["card"]["state"] == "temporarily_lost"

    def test_a_pin_locked_card_is_reported_lost(self, card, system):
        for _ in range(6):
            try:
                services.card_check_pin(card=card, pin="000000", by=system)
            except Exception:
                pass
        assert services.card_report_temporary_loss(card=card, by=system).state == "temporarily_lost"


class TestReplacementFormalisesTheLoss:
    def test_applying_for_a_replacement_turns_a_temporary_loss_formal_with_the_usual_notice(
        self, card, clerk, django_capture_on_commit_callbacks
    ):
        staff = Actor.staff(clerk)
        services.card_report_temporary_loss(card=card, by=staff)
        with django_capture_on_commit_callbacks(execute=True):
            services.card_apply_replacement(card=card, kind="loss", by=staff)
        card.refresh_from_db()
        assert card.state == CardState.LOST and card.formalisation_deadline is None
        assert Notice.objects.filter(kind="card.loss_formalised", holder=card.holder).exists()
        # The deadline job has nothing to skip and no reminder to send.
        out = StringIO()
        call_command("run_job", "loss_deadlines", stdout=out)
        assert "0 reminded, 0 lapsed, 0 changed" in out.getvalue()


class TestACancelledReplacement:
    def test_frees_the_old_card_to_apply_again_and_the_audit_shows_both(self, card, supervisor):
        staff = Actor.staff(supervisor)
        services.card_report_formal_loss(card=card, by=staff)
        first = services.card_apply_replacement(card=card, kind="loss", by=staff)
        services.card_cancel(card=first, reason="duplicate", by=staff)
        second = services.card_apply_replacement(card=card, kind="loss", by=staff)
        assert second.replaces_id == card.pk and second.state == CardState.SEALED
        assert AuditEvent.objects.filter(card=first, action="card.cancelled").exists()
        assert AuditEvent.objects.filter(card=card, action="card.replacement_withdrawn").exists()


class TestMovingProvince:
    def test_activating_the_new_provinces_card_cancels_the_old_and_moves_the_e_card(
        self, make_card, system, django_capture_on_commit_callbacks
    ):
        from rest_framework.test import APIClient

        holder = Holder_(APIClient(), make_card(region="11"), "13800000001")
        old = holder.card
        ecard = ECard.objects.get(card=old)
        new = make_card("sealed", holder=old.holder, region="44")
        with django_capture_on_commit_callbacks(execute=True):
            services.card_enable(card=new, by=Actor.holder(None))
        old.refresh_from_db()
        assert old.state == CardState.CANCELLED and old.cancellation_reason == "transferred"
        assert ECard.objects.get(pk=ecard.pk).card_id == new.pk
        assert Notice.objects.filter(holder=old.holder, kind="card.transferred").exists()
        assert holder.get("/api/v1/ecard").json()["card"]["number_masked"] == new.number_masked
        assert Card.objects.filter(holder=old.holder).exclude(state="cancelled").count() == 1

    def test_an_active_card_imported_in_a_new_province_does_the_same(self, make_card, system):
        old = make_card(region="11")
        new = make_card(holder=old.holder, region="44")  # made active at once, as an import does
        old.refresh_from_db()
        assert old.state == CardState.CANCELLED and old.cancellation_reason == "transferred"
        assert new.state == CardState.ACTIVE

    def test_staff_cannot_pick_transferred_as_a_reason(self, card, supervisor):
        from plumbing.errors import DomainError

        with pytest.raises(DomainError) as refused:
            services.card_cancel(card=card, reason="transferred", by=Actor.staff(supervisor))
        assert refused.value.code == "card.cancel_reason_reserved"
