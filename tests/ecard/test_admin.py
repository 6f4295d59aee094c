"""The outlet staff's admin: operations call the services; roles decide who may do what."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from ecard import services
from ecard.models import AuditEvent, CalendarDay, Card, CardState
from tests.support import DEATH_CERTIFICATE, years_ago

pytestmark = pytest.mark.dates

AGENT = {"agent_name": "张  伟", "agent_id_type": "resident_id", "agent_id_number": "11010519491231002X"}


def operate_url(card, operation):
    return reverse("admin:ecard_card_operate", args=[card.pk, operation])


def change_url(card):
    return reverse("admin:ecard_card_change", args=[card.pk])


class TestCardOperations:
    def test_a_clerk_reports_a_formal_loss_from_the_card_page(self, staff_client, clerk, card):
        client = staff_client(clerk)
        page = client.get(change_url(card)).content.decode()
        assert operate_url(card, "formal_loss") in page
        response = client.post(operate_url(card, "formal_loss"), follow=True)
        assert response.status_code == 200
        assert Card.objects.get(pk=card.pk).state == CardState.LOST
        assert AuditEvent.objects.get(card=card, action="card.loss_formalised").actor == clerk
        assert "已办理" in response.content.decode()

    def test_the_confirmation_page_shows_the_card_masked(self, staff_client, clerk, card):
        page = staff_client(clerk).get(operate_url(card, "formal_loss")).content.decode()
        assert card.holder.id_number_masked in page and card.holder.id_number not in page

    def test_a_refused_operation_shows_the_rules_message(self, staff_client, clerk, card, system):
        services.card_report_formal_loss(card=card, by=system)
        response = staff_client(clerk).post(operate_url(card, "lift"), follow=True)
        text = response.content.decode()
        assert "正式挂失后不能撤销挂失" in text
        assert Card.objects.get(pk=card.pk).state == CardState.LOST

    def test_a_clerk_applies_for_a_replacement_and_lands_on_the_new_card(
        self, staff_client, clerk, card, system
    ):
        services.card_report_formal_loss(card=card, by=system)
        response = staff_client(clerk).post(
            operate_url(card, "replace"), {"kind": "loss", "number": "", "outlet": "东城区社保卡服务网点"}
        )
        new = Card.objects.get(replaces=card)
        assert response.status_code == 302 and response["Location"] == change_url(new)
        assert new.state == CardState.SEALED

    def test_a_clerk_collects_and_activates_the_new_card(self, staff_client, clerk, card, system):
        services.card_report_formal_loss(card=card, by=system)
        new = services.card_apply_replacement(card=card, kind="loss", by=system)
        client = staff_client(clerk)
        client.post(operate_url(new, "receive"))
        client.post(operate_url(new, "enable"))
        assert Card.objects.get(pk=new.pk).state == CardState.ACTIVE
        assert Card.objects.get(pk=card.pk).cancellation_reason == "replaced"

    def test_a_clerk_unlocks_a_locked_pin(self, staff_client, clerk, card, system):
        for _ in range(6):
            try:
                services.card_check_pin(card=card, pin="000000", by=system)
            except Exception:
                pass
        staff_client(clerk).post(operate_url(card, "unlock_pin"))
        assert not Card.objects.get(pk=card.pk).pin_locked

    def test_a_clerk_may_not_cancel_but_a_supervisor_may(self, staff_client, clerk, supervisor, card):
        assert operate_url(card, "cancel") not in staff_client(clerk).get(change_url(card)).content.decode()
        assert (
            staff_client(clerk).post(operate_url(card, "cancel"), {"reason": "deceased"}).status_code == 403
        )
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        staff_client(supervisor).post(
            operate_url(card, "cancel"), {"reason": "deceased", **AGENT, **DEATH_CERTIFICATE}
        )
        card = Card.objects.get(pk=card.pk)
        assert card.state == CardState.CANCELLED and card.cancellation_reason == "deceased"

    def test_the_cancel_form_does_not_offer_replaced(self, staff_client, supervisor, card):
        page = staff_client(supervisor).get(operate_url(card, "cancel")).content.decode()
        assert 'value="deceased"' in page and 'value="replaced"' not in page
        response = staff_client(supervisor).post(operate_url(card, "cancel"), {"reason": "replaced"})
        assert response.status_code == 200  # the form again, with its error
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE

    def test_an_auditor_reads_but_may_not_operate(self, staff_client, auditor, card):
        client = staff_client(auditor)
        page = client.get(change_url(card))
        assert page.status_code == 200 and operate_url(card, "formal_loss") not in page.content.decode()
        assert client.get(operate_url(card, "formal_loss")).status_code == 403
        assert client.post(operate_url(card, "formal_loss")).status_code == 403
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE

    def test_an_unknown_operation_is_not_found(self, staff_client, clerk, card):
        assert staff_client(clerk).post(operate_url(card, "teleport")).status_code == 404

    def test_no_form_lets_staff_edit_the_state(self, staff_client, clerk, supervisor, card):
        for user in (clerk, supervisor):
            client = staff_client(user)
            page = client.get(change_url(card)).content.decode()
            assert 'name="state"' not in page
            assert client.post(change_url(card), {"state": "cancelled"}).status_code == 403
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        assert staff_client(clerk).get(reverse("admin:ecard_card_add")).status_code == 403


class TestCardList:
    def test_the_list_shows_masked_id_numbers_only(self, staff_client, clerk, card):
        page = staff_client(clerk).get(reverse("admin:ecard_card_changelist")).content.decode()
        assert card.holder.id_number_masked in page and card.holder.id_number not in page
        assert card.holder.name not in page and card.holder.name_masked in page

    def test_staff_find_a_card_by_its_masked_id_number(
        self, staff_client, clerk, card, make_card, make_holder
    ):
        other = make_card(holder=make_holder(name="李四"))
        url = reverse("admin:ecard_card_changelist")
        page = staff_client(clerk).get(url, {"q": card.holder.id_number_masked}).content.decode()
        assert card.number in page and other.number not in page

    def test_staff_find_a_card_by_number_in_lower_case(self, staff_client, clerk, card):
        page = staff_client(clerk).get(reverse("admin:ecard_card_changelist"), {"q": card.number.lower()})
        assert card.number in page.content.decode()

    def test_staff_find_a_card_by_the_holders_full_id_number_or_phone_through_the_blind_index(
        self, staff_client, clerk, card, make_card, make_holder
    ):
        other = make_card(holder=make_holder(name="李四"))
        url = reverse("admin:ecard_card_changelist")
        for term in (card.holder.id_number.lower(), card.holder.phone, f"+86 {card.holder.phone}"):
            page = staff_client(clerk).get(url, {"q": term}).content.decode()
            assert card.number in page and other.number not in page, term

    def test_a_name_or_a_part_of_an_id_number_finds_nothing_since_both_are_sealed(
        self, staff_client, clerk, card
    ):
        url = reverse("admin:ecard_card_changelist")
        for term in (card.holder.name, card.holder.name[:2], card.holder.id_number[:10]):
            page = staff_client(clerk).get(url, {"q": term}).content.decode()
            assert card.number not in page, term

    def test_the_expiring_filter_lists_cards_within_sixty_days(
        self, staff_client, clerk, make_card, make_holder
    ):
        today = timezone.localdate()
        soon = make_card(valid_until=today + datetime.timedelta(days=30))
        later = make_card(holder=make_holder(name="李四"), valid_until=today + datetime.timedelta(days=90))
        page = (
            staff_client(clerk)
            .get(reverse("admin:ecard_card_changelist"), {"expiry": "60d"})
            .content.decode()
        )
        assert soon.number in page and later.number not in page

    def test_the_pin_locked_filter(self, staff_client, clerk, card, make_card, make_holder, system):
        locked = make_card(holder=make_holder(name="李四"))
        for _ in range(6):
            try:
                services.card_check_pin(card=locked, pin="000000", by=system)
            except Exception:
                pass
        page = staff_client(clerk).get(reverse("admin:ecard_card_changelist"), {"pin_locked__exact": "1"})
        assert locked.number in page.content.decode() and card.number not in page.content.decode()


class TestHolderPage:
    def test_a_clerk_sees_the_full_id_number_on_the_detail_page(self, staff_client, clerk, holder):
        page = staff_client(clerk).get(reverse("admin:accounts_holder_change", args=[holder.pk]))
        assert holder.id_number in page.content.decode()

    def test_an_auditor_sees_it_masked(self, staff_client, auditor, holder):
        page = staff_client(auditor).get(reverse("admin:accounts_holder_change", args=[holder.pk]))
        text = page.content.decode()
        assert page.status_code == 200 and holder.id_number not in text and holder.id_number_masked in text

    def test_a_phone_change_goes_through_the_service_and_is_audited(self, staff_client, clerk, holder):
        url = reverse("admin:accounts_holder_change", args=[holder.pk])
        page = staff_client(clerk).get(url).content.decode()
        assert 'type="text" name="phone"' in page and "<textarea" not in page  # one line, sealed or not
        staff_client(clerk).post(url, {"phone": "139 0000 1234", "guardian": "", "guardian_proof": ""})
        holder.refresh_from_db()
        assert holder.phone == "13900001234"
        assert AuditEvent.objects.filter(holder=holder, action="holder.phone_changed", actor=clerk).exists()
        # The phone's blind index followed it: the new number finds the holder, the old one not.
        assert type(holder).objects.filter(phone_index="13900001234").get().pk == holder.pk

    def test_a_bad_phone_is_refused_on_the_form(self, staff_client, clerk, holder):
        url = reverse("admin:accounts_holder_change", args=[holder.pk])
        response = staff_client(clerk).post(url, {"phone": "12345", "guardian": "", "guardian_proof": ""})
        assert response.status_code == 200 and "手机号码无效" in response.content.decode()

    def test_a_guardian_needs_a_proof_of_relationship(self, staff_client, clerk, make_holder):
        child = make_holder(name="张小雨", born=years_ago(8))
        parent = make_holder(name="张伟")
        url = reverse("admin:accounts_holder_change", args=[child.pk])
        client = staff_client(clerk)
        client.post(url, {"phone": "", "guardian": parent.pk, "guardian_proof": ""})
        child.refresh_from_db()
        assert child.guardian is None
        client.post(url, {"phone": "", "guardian": parent.pk, "guardian_proof": "birth_certificate"})
        child.refresh_from_db()
        assert child.guardian == parent


class TestReadOnlyAndCalendar:
    def test_audit_events_are_read_only(self, staff_client, supervisor, card):
        event = AuditEvent.objects.filter(card=card).first()
        client = staff_client(supervisor)
        assert client.get(reverse("admin:ecard_auditevent_changelist")).status_code == 200
        assert client.post(reverse("admin:ecard_auditevent_change", args=[event.pk]), {}).status_code == 403
        assert (
            client.post(
                reverse("admin:ecard_auditevent_delete", args=[event.pk]), {"post": "yes"}
            ).status_code
            == 403
        )

    def test_a_clerk_enters_next_years_holidays(self, staff_client, clerk):
        url = reverse("admin:ecard_calendaryear_add")
        data = {
            "year": "2031",
            "note": "国办发明电",
            "days-TOTAL_FORMS": "2",
            "days-INITIAL_FORMS": "0",
            "days-0-date": "2031-01-01",
            "days-0-name": "元旦",
            "days-1-date": "2031-01-04",
            "days-1-is_workday": "on",
            "days-1-name": "调休",
        }
        response = staff_client(clerk).post(url, data)
        assert response.status_code == 302
        assert CalendarDay.objects.filter(date="2031-01-04", is_workday=True).exists()

    def test_a_day_outside_its_year_is_refused(self, staff_client, clerk):
        data = {
            "year": "2031",
            "days-TOTAL_FORMS": "1",
            "days-INITIAL_FORMS": "0",
            "days-0-date": "2032-01-01",
        }
        response = staff_client(clerk).post(reverse("admin:ecard_calendaryear_add"), data)
        assert response.status_code == 200 and not CalendarDay.objects.exists()


class TestChannelsRecordedTruthfully:
    def test_the_operation_page_asks_where_the_request_came_from(self, staff_client, clerk, card):
        page = staff_client(clerk).get(operate_url(card, "temporary_loss")).content.decode()
        assert 'name="channel"' in page and "12333" in page and "合作银行" in page

    def test_a_loss_phoned_in_to_the_hotline_is_recorded_as_such(self, staff_client, clerk, card, system):
        assert not card.pin_is_initial  # the caller proves who they are by the changed PIN
        staff_client(clerk).post(operate_url(card, "temporary_loss"), {"channel": "hotline"})
        event = AuditEvent.objects.get(card=card, action="card.loss_reported")
        assert event.channel == "hotline" and event.actor == clerk

    def test_the_hotline_takes_no_loss_report_for_a_card_still_on_its_initial_pin(
        self, staff_client, clerk, make_card, settings
    ):
        card = make_card(pin=None)
        # The hotline knows a caller only by the PIN, and an initial PIN is anyone's (seed 001).
        page = staff_client(clerk).post(
            operate_url(card, "temporary_loss"), {"channel": "hotline"}, follow=True
        )
        assert "初始密码未修改的社保卡不能通过12333热线挂失" in page.content.decode()
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        # In the app or at the counter it is taken at once.
        staff_client(clerk).post(operate_url(card, "temporary_loss"), {"channel": "outlet"})
        assert Card.objects.get(pk=card.pk).state == CardState.TEMPORARILY_LOST

    def test_a_city_that_takes_hotline_reports_on_the_initial_pin_turns_the_policy_off(
        self, staff_client, clerk, card, settings
    ):
        settings.CARD_HOTLINE_LOSS_NEEDS_CHANGED_PIN = False
        staff_client(clerk).post(operate_url(card, "temporary_loss"), {"channel": "hotline"})
        assert Card.objects.get(pk=card.pk).state == CardState.TEMPORARILY_LOST

    @pytest.mark.parametrize("operation", ["lift", "reset_pin"])
    def test_an_agent_may_not_lift_a_loss_or_reset_the_pin_only_the_holder_in_person(
        self, staff_client, clerk, card, system, operation
    ):
        if operation == "lift":
            services.card_report_temporary_loss(card=card, by=system)
        before = Card.objects.get(pk=card.pk)
        page = staff_client(clerk).post(operate_url(card, operation), AGENT, follow=True)
        assert "须由持卡人本人持身份证件办理" in page.content.decode()
        after = Card.objects.get(pk=card.pk)
        assert (after.state, after.pin_is_initial) == (before.state, before.pin_is_initial)
        assert not AuditEvent.objects.filter(
            card=card, action__in=["card.loss_lifted", "card.pin_reset"]
        ).exists()
        staff_client(clerk).post(operate_url(card, operation), {})  # the holder, in person
        assert AuditEvent.objects.filter(
            card=card, action__in=["card.loss_lifted", "card.pin_reset"]
        ).exists()

    def test_without_a_choice_it_is_the_outlet(self, staff_client, clerk, card):
        staff_client(clerk).post(operate_url(card, "temporary_loss"))
        assert AuditEvent.objects.get(card=card, action="card.loss_reported").channel == "outlet"

    def test_a_channel_staff_do_not_serve_is_refused(self, staff_client, clerk, card):
        response = staff_client(clerk).post(operate_url(card, "temporary_loss"), {"channel": "app"})
        assert response.status_code == 200 and Card.objects.get(pk=card.pk).state == "active"

    def test_the_financial_function_is_activated_at_a_bank_only(self, staff_client, clerk, card):
        client = staff_client(clerk)
        client.post(operate_url(card, "activate_financial"), {"channel": "outlet"})
        assert not Card.objects.get(pk=card.pk).financial_active
        client.post(operate_url(card, "activate_financial"), {"channel": "bank"})
        assert Card.objects.get(pk=card.pk).financial_active
        event = AuditEvent.objects.get(card=card, action="card.financial_activated")
        assert event.channel == "bank"


class TestAgents:
    def test_a_death_is_cancelled_by_an_agent_whose_id_staff_record(self, staff_client, supervisor, card):
        client = staff_client(supervisor)
        client.post(operate_url(card, "cancel"), {"reason": "deceased"})
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        client.post(operate_url(card, "cancel"), {"reason": "deceased", **AGENT, **DEATH_CERTIFICATE})
        event = AuditEvent.objects.get(card=card, action="card.cancelled")
        assert (event.agent_name, event.agent_id_number) == ("张 伟", "11010519491231002X")

    def test_the_agent_is_masked_in_the_list_and_in_full_on_the_events_page(
        self, staff_client, supervisor, card
    ):
        client = staff_client(supervisor)
        client.post(operate_url(card, "temporary_loss"), AGENT)
        event = AuditEvent.objects.get(card=card, action="card.loss_reported")
        listing = client.get(reverse("admin:ecard_auditevent_changelist")).content.decode()
        assert "11010519491231002X" not in listing and "1101**********002X" in listing
        detail = client.get(reverse("admin:ecard_auditevent_change", args=[event.pk])).content.decode()
        assert "11010519491231002X" in detail

    def test_an_agent_with_a_bad_id_number_is_refused_on_the_form(self, staff_client, clerk, card):
        response = staff_client(clerk).post(
            operate_url(card, "temporary_loss"), {**AGENT, "agent_id_number": "123"}
        )
        assert response.status_code == 200 and Card.objects.get(pk=card.pk).state == CardState.ACTIVE
