"""Two transitions on one card at the same moment, on PostgreSQL with real row locks."""

import threading

import pytest
from django.db import connection

from ecard import services
from ecard.models import AuditEvent, Card, CardState
from plumbing.errors import DomainError
from tests.support import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def race(*calls):
    """Run the calls in threads released together; return each one's result or DomainError code."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = ("ok", call())
        except DomainError as exc:
            results[index] = ("refused", exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def assert_audit_chain_is_consistent(card):
    events = AuditEvent.objects.filter(card=card).exclude(state_before="", state_after="").order_by("id")
    state = None
    for event in events:
        if event.state_before != event.state_after:
            assert state is None or event.state_before == state, (
                f"{event.action} started from {event.state_before}, card was {state}"
            )
            state = event.state_after
    assert state == Card.objects.get(pk=card.pk).state


@pytest.mark.parametrize("round_", range(5))
def test_lift_and_lapse_at_once_one_wins(make_card, system, round_):
    card = services.card_report_temporary_loss(card=make_card(), by=system)
    results = race(
        lambda: services.card_lift_loss(card=card, by=system),
        lambda: services.card_lapse_temporary_loss(card=card, now=card.formalisation_deadline),
    )
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
    assert (
        AuditEvent.objects.filter(card=card, action__in=["card.loss_lifted", "card.loss_lapsed"]).count() == 1
    )
    assert_audit_chain_is_consistent(card)


@pytest.mark.parametrize("round_", range(5))
def test_formal_loss_and_lift_at_once_leave_a_consistent_trail(make_card, system, round_):
    card = services.card_report_temporary_loss(card=make_card(), by=system)
    results = race(
        lambda: services.card_report_formal_loss(card=card, by=system),
        lambda: services.card_lift_loss(card=card, by=system),
    )
    final = Card.objects.get(pk=card.pk).state
    # Either order is a legal history; the formal loss wins either way and is never undone.
    assert final == CardState.LOST
    if results[1][0] == "refused":
        assert results[1][1] == "card.loss_irrevocable"
    assert_audit_chain_is_consistent(card)


def test_two_temporary_loss_reports_at_once_make_one(make_card, system):
    card = make_card()
    results = race(*[lambda: services.card_report_temporary_loss(card=card, by=system)] * 2)
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    assert AuditEvent.objects.filter(card=card, action="card.loss_reported").count() == 1


def test_two_replacement_applications_at_once_make_one_new_card(make_card, system):
    card = services.card_report_formal_loss(card=make_card(), by=system)
    results = race(*[lambda: services.card_apply_replacement(card=card, kind="loss", by=system)] * 2)
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    assert Card.objects.filter(replaces=card).count() == 1


def test_two_live_cards_for_one_holder_created_at_once_one_is_refused(make_holder, make_card):
    holder = make_holder()
    results = race(
        lambda: make_card(holder=holder, number="R00000001"),
        lambda: make_card(holder=holder, number="R00000002"),
    )
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    assert [r[1] for r in results if r[0] == "refused"] == ["card.one_per_region"]
    assert Card.objects.filter(holder=holder).count() == 1


def test_wrong_pins_entered_at_once_all_count(make_card, system):
    card = make_card()
    results = race(*[lambda: services.card_check_pin(card=card, pin="000000", by=system)] * 6)
    assert sorted(r[1] for r in results).count("card.pin_locked") == 1
    card = Card.objects.get(pk=card.pk)
    assert card.pin_failures == 6 and card.pin_locked


@pytest.mark.parametrize("round_", range(3))
def test_two_accounts_racing_with_one_sms_code_bind_once(make_card, round_):
    from django.conf import settings as django_settings

    from accounts.models import User
    from ecard.audit import Actor
    from ecard.models import ECard
    from tests.support import sms_code

    card = make_card()
    asker = User.objects.create_user(username=f"1390000{round_:04d}", password="x")
    holder = card.holder
    named = {"name": holder.name, "id_number": holder.id_number, "card_number": card.number}
    challenge = services.binding_challenge_create(user=asker, by=Actor.holder(asker), **named)
    code = sms_code(holder.phone)

    def apply(password):
        return services.ecard_apply(
            user=User.objects.get(pk=asker.pk),
            challenge_id=challenge.public_id,
            sms_code=code,
            identity_token=django_settings.IDENTITY_DEV_TOKEN,
            password=password,
            channel="national_app",
            by=Actor.holder(asker),
            **named,
        )

    results = race(lambda: apply("730519"), lambda: apply("820357"))
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert [r[1] for r in results if r[0] == "refused"] == ["identity.code_expired"]
    assert ECard.objects.filter(card=card).count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_invitations_for_the_last_family_place_at_once_one_wins(
    make_card, make_holder, system, settings, round_
):
    import datetime

    from ecard.models import ECardChannel, FamilyLink

    def adult(born):
        card = make_card(holder=make_holder(name="王五", born=born))
        services.ecard_issue(card=card, channel=ECardChannel.NATIONAL_APP, password="135790", by=system)
        return card.holder

    presenter = make_card().holder
    for i in range(settings.FAMILY_MAX_MEMBERS - 1):
        member = adult(datetime.date(1950 + i, 1, 1))
        services.family_invite(
            presenter=presenter, name=member.name, id_number=member.id_number, relationship="other", by=system
        )
    last = [adult(datetime.date(1970, 1, 1)), adult(datetime.date(1971, 1, 1))]
    results = race(
        *[
            lambda m=m: services.family_invite(
                presenter=presenter, name=m.name, id_number=m.id_number, relationship="other", by=system
            )
            for m in last
        ]
    )
    assert sorted(r[0] for r in results) == ["ok", "refused"], results
    assert [r[1] for r in results if r[0] == "refused"] == ["family.limit_reached"]
    assert FamilyLink.objects.filter(presenter=presenter).count() == settings.FAMILY_MAX_MEMBERS
