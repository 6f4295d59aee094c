"""The physical card's lifecycle (docs/domain.md), through the services."""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from ecard import services
from ecard.audit import Actor
from ecard.models import AuditEvent, Card, CardState
from plumbing.errors import DomainError
from tests.support import years_ago

pytestmark = pytest.mark.dates

SHANGHAI = ZoneInfo("Asia/Shanghai")


def refused(code: str):
    class _Refusal:
        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            assert exc_type is DomainError, f"expected refusal {code}, got {exc_type}"
            assert exc.code == code, f"expected {code}, got {exc.code}"
            return True

    return _Refusal()


def reload(card: Card) -> Card:
    return Card.objects.get(pk=card.pk)


class TestEnabling:
    def test_a_received_sealed_card_is_enabled(self, make_card, system):
        card = make_card("sealed")
        card = services.card_enable(card=card, by=system)
        assert reload(card).state == CardState.ACTIVE
        event = AuditEvent.objects.filter(card=card, action="card.enabled").get()
        assert (event.state_before, event.state_after, event.actor_kind) == (
            "sealed",
            "active",
            "system",
        )

    def test_a_card_cannot_be_enabled_before_it_is_received(self, make_card, system):
        card = make_card("sealed", received=False)
        with refused("card.not_received"):
            services.card_enable(card=card, by=system)
        assert reload(card).state == CardState.SEALED

    def test_collecting_the_card_makes_it_enableable(self, make_card, system):
        card = make_card("sealed", received=False)
        services.card_mark_received(card=card, by=system)
        services.card_enable(card=card, by=system)
        assert reload(card).state == CardState.ACTIVE

    def test_an_active_card_is_not_enabled_twice(self, card, system):
        with refused("card.already_enabled"):
            services.card_enable(card=card, by=system)

    def test_the_first_change_of_the_initial_pin_enables_a_sealed_card(self, make_card, system):
        card = make_card("sealed")
        services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)
        card = reload(card)
        assert card.state == CardState.ACTIVE
        assert not card.pin_is_initial
        actions = list(AuditEvent.objects.filter(card=card).order_by("id").values_list("action", "reason"))
        assert ("card.pin_changed", "") in actions and (
            "card.enabled",
            "first_pin_change",
        ) in actions

    def test_changing_the_pin_of_an_unreceived_card_is_refused(self, make_card, system):
        card = make_card("sealed", received=False)
        with refused("card.not_received"):
            services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)


class TestPin:
    @pytest.fixture
    def card(self, make_card, holder):
        """A card still on its initial PIN: where every story of the PIN starts."""
        return make_card(holder=holder, pin=None)

    def test_the_new_pin_must_be_six_digits_and_not_trivial(self, card, system):
        for bad, code in [
            ("12345", "card.pin_invalid"),
            ("abcdef", "card.pin_invalid"),
            ("123456", "card.pin_weak"),
            ("111111", "card.pin_weak"),
            ("987654", "card.pin_weak"),
        ]:
            with refused(code):
                services.card_change_pin(card=card, old_pin="123456", new_pin=bad, by=system)
        assert reload(card).pin_failures == 0

    def test_the_changed_pin_is_stored_as_a_hash_and_checks(self, card, system):
        services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)
        stored = reload(card)
        assert "802461" not in stored.pin_hash
        services.card_check_pin(card=stored, pin="802461", by=system)
        with refused("card.pin_wrong"):
            services.card_check_pin(card=stored, pin="123456", by=system)

    def test_each_wrong_pin_is_counted_even_though_it_is_refused(self, card, system):
        for remaining in (5, 4):
            with pytest.raises(DomainError) as exc:
                services.card_check_pin(card=card, pin="000000", by=system)
            assert exc.value.code == "card.pin_wrong" and exc.value.params["remaining"] == remaining
        assert reload(card).pin_failures == 2

    def test_a_right_pin_resets_the_failure_count(self, card, system):
        with refused("card.pin_wrong"):
            services.card_check_pin(card=card, pin="000000", by=system)
        services.card_check_pin(card=card, pin="123456", by=system)
        assert reload(card).pin_failures == 0

    def test_the_sixth_wrong_pin_locks_and_the_seventh_with_the_right_pin_is_still_refused(
        self, card, system
    ):
        for _ in range(5):
            with refused("card.pin_wrong"):
                services.card_check_pin(card=card, pin="000000", by=system)
        with refused("card.pin_locked"):
            services.card_check_pin(card=card, pin="000000", by=system)
        assert reload(card).pin_locked
        with refused("card.pin_locked"):
            services.card_check_pin(card=card, pin="123456", by=system)
        assert AuditEvent.objects.filter(card=card, action="card.pin_locked").count() == 1

    def test_a_locked_pin_cannot_be_changed(self, card, system):
        for _ in range(6):
            with pytest.raises(DomainError):
                services.card_check_pin(card=card, pin="000000", by=system)
        with refused("card.pin_locked"):
            services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)

    def test_staff_unlock_restores_the_old_pin(self, card, system, clerk):
        for _ in range(6):
            with pytest.raises(DomainError):
                services.card_check_pin(card=card, pin="000000", by=system)
        services.card_unlock_pin(card=card, by=Actor.staff(clerk))
        services.card_check_pin(card=card, pin="123456", by=system)
        assert AuditEvent.objects.get(card=card, action="card.pin_unlocked").actor == clerk

    def test_a_pin_is_not_reset_or_unlocked_on_a_card_reported_lost(self, card, system, clerk):
        # Its holder would be told to change the reset PIN in the app, which refuses a lost card.
        services.card_report_temporary_loss(card=card, by=system)
        for service in (services.card_reset_pin, services.card_unlock_pin):
            with refused("card.not_active"):
                service(card=card, by=Actor.staff(clerk))
        assert not AuditEvent.objects.filter(
            card=card, action__in=["card.pin_reset", "card.pin_unlocked"]
        ).exists()

    def test_staff_reset_returns_to_the_initial_pin_and_unlocks(self, card, system, clerk):
        services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)
        for _ in range(6):
            with pytest.raises(DomainError):
                services.card_check_pin(card=card, pin="000000", by=system)
        services.card_reset_pin(card=card, by=Actor.staff(clerk))
        card = reload(card)
        assert card.pin_is_initial and not card.pin_locked and card.pin_failures == 0
        services.card_check_pin(card=card, pin="123456", by=system)


class TestTemporaryLoss:
    def test_temporary_loss_takes_effect_at_once_with_a_deadline(self, card, system):
        card = services.card_report_temporary_loss(card=card, by=system)
        assert reload(card).state == CardState.TEMPORARILY_LOST
        assert card.formalisation_deadline > timezone.now()

    def test_the_deadline_is_three_working_days_across_a_holiday_and_a_make_up_workday(self, card, system):
        # Reported on Tue 30 Sep 2025. 1–8 Oct is the National Day holiday and Sat 11 Oct a
        # make-up workday, so the working days are 9, 10 and 11 Oct: a weekday-only count
        # would have ended on 3 Oct.
        with time_machine.travel(datetime.datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), tick=False):
            card = services.card_report_temporary_loss(card=card, by=system)
        assert card.formalisation_deadline == datetime.datetime(2025, 10, 12, 0, 0, tzinfo=SHANGHAI)

    def test_temporary_loss_lapses_after_the_configured_working_days(self, card, system):
        with time_machine.travel(datetime.datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), tick=False):
            card = services.card_report_temporary_loss(card=card, by=system)
        with refused("card.deadline_not_passed"):
            services.card_lapse_temporary_loss(
                card=card, now=datetime.datetime(2025, 10, 11, 23, 59, tzinfo=SHANGHAI)
            )
        assert reload(card).state == CardState.TEMPORARILY_LOST
        services.card_lapse_temporary_loss(
            card=card, now=datetime.datetime(2025, 10, 12, 0, 0, tzinfo=SHANGHAI)
        )
        card = reload(card)
        assert card.state == CardState.ACTIVE and card.formalisation_deadline is None
        event = AuditEvent.objects.get(card=card, action="card.loss_lapsed")
        assert (event.actor_kind, event.state_before, event.state_after) == (
            "system",
            "temporarily_lost",
            "active",
        )

    def test_the_window_length_is_a_setting(self, card, system, settings):
        settings.CARD_TEMPORARY_LOSS_WORKING_DAYS = 1
        with time_machine.travel(datetime.datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), tick=False):
            card = services.card_report_temporary_loss(card=card, by=system)
        assert card.formalisation_deadline == datetime.datetime(2025, 10, 10, 0, 0, tzinfo=SHANGHAI)

    def test_a_temporary_loss_is_lifted_when_the_card_is_found(self, card, system):
        services.card_report_temporary_loss(card=card, by=system)
        services.card_lift_loss(card=card, by=system)
        card = reload(card)
        assert card.state == CardState.ACTIVE and card.formalisation_deadline is None

    def test_lifting_a_card_that_is_not_lost_is_refused(self, card, system):
        with refused("card.not_lost"):
            services.card_lift_loss(card=card, by=system)

    def test_a_lost_card_cannot_be_reported_temporarily_lost_again(self, card, system):
        services.card_report_temporary_loss(card=card, by=system)
        with refused("card.already_temporarily_lost"):
            services.card_report_temporary_loss(card=card, by=system)

    def test_a_collected_sealed_card_can_be_reported_lost_and_stays_sealed_when_found(
        self, make_card, system
    ):
        card = services.card_report_temporary_loss(card=make_card("sealed"), by=system)
        assert card.state == "temporarily_lost"
        assert services.card_lift_loss(card=card, by=system).state == "sealed"

    def test_a_card_still_at_the_outlet_cannot_be_reported_lost(self, make_card, system):
        with refused("card.not_received"):
            services.card_report_temporary_loss(card=make_card("sealed", received=False), by=system)

    def test_a_lift_after_the_lapse_is_refused(self, card, system):
        card = services.card_report_temporary_loss(card=card, by=system)
        services.card_lapse_temporary_loss(card=card, now=card.formalisation_deadline)
        with refused("card.not_lost"):
            services.card_lift_loss(card=card, by=system)


class TestFormalLoss:
    def test_formal_loss_cannot_be_lifted(self, card, system):
        services.card_report_temporary_loss(card=card, by=system)
        services.card_report_formal_loss(card=card, by=system)
        with refused("card.loss_irrevocable"):
            services.card_lift_loss(card=card, by=system)
        assert reload(card).state == CardState.LOST

    def test_a_formal_loss_does_not_lapse(self, card, system):
        card = services.card_report_temporary_loss(card=card, by=system)
        deadline = card.formalisation_deadline
        services.card_report_formal_loss(card=card, by=system)
        with refused("card.not_temporarily_lost"):
            services.card_lapse_temporary_loss(card=card, now=deadline + datetime.timedelta(days=1))

    def test_an_active_card_can_be_formally_reported_lost_directly(self, card, system):
        services.card_report_formal_loss(card=card, by=system)
        assert reload(card).state == CardState.LOST

    def test_a_card_is_not_formally_reported_lost_twice(self, card, system):
        services.card_report_formal_loss(card=card, by=system)
        with refused("card.already_lost"):
            services.card_report_formal_loss(card=card, by=system)


class TestReplacement:
    def test_a_replacement_after_loss_makes_a_sealed_card_ready_after_fifteen_working_days(
        self, card, system
    ):
        services.card_report_formal_loss(card=card, by=system)
        with time_machine.travel(datetime.datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI), tick=False):
            new = services.card_apply_replacement(card=card, kind="loss", by=system)
        assert new.state == CardState.SEALED and new.received_at is None
        assert new.replaces_id == card.pk and new.replacement_kind == "loss"
        # 9, 10, 11 (make-up), 13–17, 20–24, 27–28 Oct: the 15th working day is 28 Oct.
        assert new.ready_on == datetime.date(2025, 10, 28)
        assert reload(card).replacement_applied_at is not None

    def test_damage_replacement_is_ready_after_seven_working_days(self, card, system):
        with time_machine.travel(datetime.datetime(2025, 11, 3, 10, 0, tzinfo=SHANGHAI), tick=False):
            new = services.card_apply_replacement(card=card, kind="damage", by=system)
        assert new.ready_on == datetime.date(2025, 11, 12)

    def test_lift_is_refused_after_a_replacement_application_even_if_the_card_is_found(self, card, system):
        services.card_report_temporary_loss(card=card, by=system)
        services.card_apply_replacement(card=card, kind="loss", by=system)
        with refused("card.loss_irrevocable"):
            services.card_lift_loss(card=card, by=system)
        assert reload(card).state == CardState.LOST

    def test_a_temporary_loss_with_a_replacement_applied_does_not_lapse_back_to_active(self, card, system):
        card = services.card_report_temporary_loss(card=card, by=system)
        services.card_apply_replacement(card=card, kind="loss", by=system)
        with refused("card.not_temporarily_lost"):
            services.card_lapse_temporary_loss(card=card, now=card.formalisation_deadline)
        assert reload(card).state == CardState.LOST

    def test_a_loss_replacement_needs_a_lost_card(self, card, system):
        with refused("card.replacement_not_allowed"):
            services.card_apply_replacement(card=card, kind="loss", by=system)

    def test_only_one_replacement_at_a_time(self, card, system):
        services.card_apply_replacement(card=card, kind="damage", by=system)
        with refused("card.replacement_pending"):
            services.card_apply_replacement(card=card, kind="damage", by=system)

    def test_activating_a_replacement_cancels_the_old_card_and_moves_the_e_card(self, card, system):
        ecard = services.ecard_issue(card=card, channel="national_app", password="802461", by=system)
        services.card_report_formal_loss(card=card, by=system)
        new = services.card_apply_replacement(card=card, kind="loss", by=system)
        services.card_mark_received(card=new, by=system)
        services.card_enable(card=new, by=system)
        old = reload(card)
        assert old.state == CardState.CANCELLED and old.cancellation_reason == "replaced"
        assert reload(new).state == CardState.ACTIVE
        ecard.refresh_from_db()
        assert ecard.card_id == new.pk
        assert AuditEvent.objects.filter(card=new, action="ecard.moved").exists()

    def test_a_replacement_cannot_be_activated_before_it_is_collected(self, card, system):
        new = services.card_apply_replacement(card=card, kind="damage", by=system)
        with refused("card.not_received"):
            services.card_enable(card=new, by=system)
        assert reload(card).state == CardState.ACTIVE

    def test_the_old_card_keeps_working_until_the_new_one_is_enabled(self, card, system):
        new = services.card_apply_replacement(card=card, kind="damage", by=system)
        assert reload(card).state == CardState.ACTIVE
        services.card_mark_received(card=new, by=system)
        services.card_change_pin(card=new, old_pin="123456", new_pin="802461", by=system)
        assert reload(card).state == CardState.CANCELLED

    def test_a_cancelled_card_cannot_be_replaced(self, card, system):
        services.card_cancel(card=card, reason="emigrated", by=system)
        with refused("card.cancelled"):
            services.card_apply_replacement(card=card, kind="damage", by=system)


class TestRenewal:
    def test_renewal_opens_sixty_days_before_expiry(self, make_card, system):
        today = timezone.localdate()
        card = make_card(valid_until=today + datetime.timedelta(days=61))
        with refused("card.renewal_not_open"):
            services.card_apply_renewal(card=card, by=system)
        new = services.card_apply_renewal(card=card, by=system, today=today + datetime.timedelta(days=1))
        assert new.replacement_kind == "renewal" and new.replaces_id == card.pk

    def test_an_expired_card_can_be_renewed(self, make_card, system):
        today = timezone.localdate()
        card = make_card(
            issued_on=today - datetime.timedelta(days=3700),
            valid_until=today - datetime.timedelta(days=5),
        )
        new = services.card_apply_renewal(card=card, by=system)
        assert new.valid_until == years_ago(-10, today)

    def test_a_new_card_is_valid_for_ten_years(self, card):
        assert card.valid_until == years_ago(-10, card.issued_on)

    @pytest.mark.parametrize(
        ("issued", "valid_until"),
        [("2028-02-29", "2038-02-28"), ("2028-02-28", "2038-02-28"), ("2028-03-01", "2038-03-01")],
    )
    def test_a_card_issued_on_29_february_is_valid_until_28_february_ten_years_on(
        self, make_card, system, issued, valid_until
    ):
        day = datetime.date.fromisoformat(issued)
        with time_machine.travel(datetime.datetime.combine(day, datetime.time(10), SHANGHAI), tick=False):
            card = make_card(issued_on=day - datetime.timedelta(days=3700), valid_until=day)
            assert services.card_apply_renewal(card=card, by=system).valid_until.isoformat() == valid_until


class TestCancellation:
    @pytest.mark.parametrize(
        "reason",
        ["moved_out_of_province", "emigrated", "deceased", "declared_missing_or_dead", "duplicate"],
    )
    def test_a_card_is_cancelled_for_each_reason(self, card, system, reason):
        services.card_cancel(card=card, reason=reason, by=system)
        card = reload(card)
        assert card.state == CardState.CANCELLED and card.cancellation_reason == reason
        assert AuditEvent.objects.get(card=card, action="card.cancelled").reason == reason

    def test_replaced_is_not_a_reason_staff_can_give(self, card, system):
        with refused("card.cancel_reason_reserved"):
            services.card_cancel(card=card, reason="replaced", by=system)

    def test_an_unknown_reason_is_refused(self, card, system):
        with refused("card.cancel_reason_invalid"):
            services.card_cancel(card=card, reason="bored", by=system)

    def test_a_card_is_not_cancelled_twice(self, card, system):
        services.card_cancel(card=card, reason="deceased", by=system)
        with refused("card.already_cancelled"):
            services.card_cancel(card=card, reason="deceased", by=system)

    def test_cancelling_a_card_also_cancels_its_replacement_in_the_making(self, card, system):
        services.card_report_formal_loss(card=card, by=system)
        new = services.card_apply_replacement(card=card, kind="loss", by=system)
        services.card_cancel(card=card, reason="moved_out_of_province", by=system)
        assert reload(new).state == CardState.CANCELLED

    @pytest.mark.parametrize(
        "operation",
        [
            lambda c, by: services.card_enable(card=c, by=by),
            lambda c, by: services.card_report_temporary_loss(card=c, by=by),
            lambda c, by: services.card_report_formal_loss(card=c, by=by),
            lambda c, by: services.card_lift_loss(card=c, by=by),
            lambda c, by: services.card_unlock_pin(card=c, by=by),
            lambda c, by: services.card_change_pin(card=c, old_pin="123456", new_pin="802461", by=by),
        ],
    )
    def test_a_cancelled_card_refuses_every_operation(self, card, system, operation):
        services.card_cancel(card=card, reason="deceased", by=system)
        with refused("card.cancelled"):
            operation(card, system)


class TestOneCardPerRegion:
    def test_a_second_live_card_in_one_region_is_refused(self, card, make_card, system):
        with refused("card.one_per_region"):
            make_card(holder=card.holder)

    def test_a_second_live_card_in_one_region_is_refused_by_the_database(self, card):
        with pytest.raises(IntegrityError), transaction.atomic():
            Card.objects.create(
                number="Z99999999",
                holder=card.holder,
                region=card.region,
                issued_on=card.issued_on,
                valid_until=card.valid_until,
                state="sealed",
            )

    def test_a_card_in_another_region_is_allowed(self, card, make_card):
        assert make_card(holder=card.holder, region="31").region == "31"

    def test_a_cancelled_card_does_not_count(self, card, make_card, system):
        services.card_cancel(card=card, reason="duplicate", by=system)
        assert make_card(holder=card.holder).state == CardState.ACTIVE

    def test_a_card_number_is_unique(self, card, make_card, make_holder):
        with refused("card.number_taken"):
            make_card(holder=make_holder(name="李四"), number=card.number)


class TestECardIssue:
    def test_an_e_card_is_issued_for_a_received_card(self, card, system):
        ecard = services.ecard_issue(card=card, channel="wechat", password="802461", by=system)
        assert ecard.channel == "wechat" and len(ecard.reference) == 24
        assert "802461" not in ecard.password_hash

    def test_an_e_card_is_refused_for_an_unreceived_card(self, make_card, system):
        with refused("card.not_received"):
            services.ecard_issue(
                card=make_card("sealed", received=False),
                channel="wechat",
                password="802461",
                by=system,
            )

    def test_an_e_card_is_refused_for_a_cancelled_card(self, card, system):
        services.card_cancel(card=card, reason="emigrated", by=system)
        with refused("card.cancelled"):
            services.ecard_issue(card=card, channel="wechat", password="802461", by=system)

    def test_a_sealed_but_received_card_gets_an_e_card(self, make_card, system):
        assert services.ecard_issue(card=make_card("sealed"), channel="wechat", password="802461", by=system)

    def test_one_card_has_one_e_card(self, card, system):
        services.ecard_issue(card=card, channel="wechat", password="802461", by=system)
        with refused("ecard.already_issued"):
            services.ecard_issue(card=card, channel="alipay", password="802461", by=system)

    def test_the_e_card_password_must_not_be_trivial(self, card, system):
        with refused("ecard.password_weak"):
            services.ecard_issue(card=card, channel="wechat", password="000000", by=system)

    def test_a_holder_under_sixteen_needs_a_guardian(self, make_holder, make_card, system):
        from accounts.services import holder_set_guardian

        child = make_holder(name="张小雨", born=years_ago(8))
        card = make_card(holder=child)
        with refused("holder.guardian_required"):
            services.ecard_issue(card=card, channel="wechat", password="802461", by=system)
        parent = make_holder(name="张伟")
        holder_set_guardian(holder=child, guardian=parent, proof="birth_certificate", by=system)
        assert services.ecard_issue(card=card, channel="wechat", password="802461", by=system)


class TestAudit:
    def test_every_transition_writes_who_what_and_the_states(self, card, clerk):
        by = Actor.staff(clerk)
        services.card_report_temporary_loss(card=card, by=by)
        services.card_report_formal_loss(card=card, by=by)
        events = list(
            AuditEvent.objects.filter(card=card)
            .exclude(action__in=["card.created", "card.pin_changed"])
            .order_by("id")
        )
        assert [(e.action, e.state_before, e.state_after) for e in events] == [
            ("card.loss_reported", "active", "temporarily_lost"),
            ("card.loss_formalised", "temporarily_lost", "lost"),
        ]
        assert all(e.actor == clerk and e.actor_kind == "staff" and e.channel == "outlet" for e in events)

    def test_a_refused_transition_writes_nothing(self, card, system):
        before = AuditEvent.objects.count()
        with refused("card.not_lost"):
            services.card_lift_loss(card=card, by=system)
        assert AuditEvent.objects.count() == before
