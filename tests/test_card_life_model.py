"""The card life as a whole: a holder, an outlet clerk, a bank and scanners go from one journey
into the next (loss and lift, formal loss, replacement at the counter, collection and
enabling, moving province, cancellation, agreements, codes online and offline), and after every
step the seams between journeys are checked:

- the card in the holder's pocket can always be reported lost, and the report takes effect;
- no application stays open behind a card already handed over or cancelled;
- a card that is lost, cancelled or replaced has no code any scanner accepts, online or offline
  after a sync;
- what ``GET /api/v1/ecard`` says a service may do is what issuing and a scanner then do.

Bounded here (``CARD_MODEL_EXAMPLES``, ``CARD_MODEL_STEPS``); ``make card-model`` is the long run.
"""

import itertools
import os

import pytest
from django.db import transaction
from django.test import override_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from codes import verifier
from ecard import services
from ecard.audit import Actor
from ecard.models import OPEN_APPLICATION_STATES, Card, CardApplication, CardState
from tests.codes.test_verifier import offline_gate
from tests.ecard.services.test_payments import Provider, confirm
from tests.support import Holder_, Scanner, clean_stores, model_settings

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CARD_MODEL_EXAMPLES", "20"))
STEPS = int(os.environ.get("CARD_MODEL_STEPS", "25"))
RANDOM = os.environ.get("CARD_MODEL_RANDOM") == "1"
SHRINK = os.environ.get("CARD_MODEL_SHRINK") == "1"
IDENTITY_TOKEN = "dev-real-person-ok"
# Where a card may be in the holder's pocket: a loss report must take effect from these.
POCKET_STATES = {CardState.ACTIVE, CardState.SEALED}
NEXT_STEP = {
    "submitted": "accepted",
    "accepted": "in_production",
    "in_production": "ready",
    "ready": "collected",
}
_phones = itertools.count(1)


class CardLifeModel(RuleBasedStateMachine):
    factory = None  # set by the test: the fixtures' makers

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        clean_stores()
        make_card, clerk, tmp_path = self.factory()
        self.holder = Holder_(APIClient(), make_card(region="11"), f"137{next(_phones):08d}")
        self.person = self.holder.card.holder
        self.clerk = Actor.staff(clerk)
        self.bank = Provider(tmp_path, name=f"银行{next(_phones)}")
        self.identity_desk = Scanner(organisation="人社局", kind="hr_counter", purposes=("identity",))
        self.codes = []  # (card pk when issued, identity code text)
        self.regions = iter(("31", "44", "51", "32", "33", "35", "37", "42"))
        self.gate_revocations = verifier.RevocationList()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        clean_stores()

    # ------------------------------------------------------------------ what the holder has

    def cards(self):
        return list(Card.objects.filter(holder=self.person).exclude(state=CardState.CANCELLED))

    def pocket(self):
        """The card in the holder's hands: collected, not cancelled, not reported lost."""
        held = [c for c in self.cards() if c.received_at is not None and c.state in POCKET_STATES]
        return max(held, key=lambda c: c.pk) if held else None

    def ecard(self):
        response = self.holder.get("/api/v1/ecard")
        return response.json() if response.status_code == 200 else None

    # ------------------------------------------------------------------ the holder, in the app

    @rule()
    def the_holder_reports_the_card_lost_in_the_app(self):
        pocket = self.pocket()
        response = self.holder.post("/api/v1/card/loss-report")
        if pocket is not None:
            # The card in the pocket can always be reported lost, and the report takes effect,
            # whichever card the e-card is on now.
            assert response.status_code == 200, (pocket.state, response.json())
            assert Card.objects.get(pk=pocket.pk).state == CardState.TEMPORARILY_LOST
        else:
            assert response.status_code in (404, 409), response.json()

    def _ecard_card_pk(self):
        from ecard.models import ECard

        ecard = ECard.objects.filter(card__holder=self.person).select_related("card").first()
        return ecard.card_id if ecard else None

    @rule()
    def the_holder_finds_the_card_and_lifts_the_loss(self):
        response = self.holder.post("/api/v1/card/loss-lift", {"identity_token": IDENTITY_TOKEN})
        assert response.status_code in (200, 404, 409), response.json()

    @rule()
    def the_holder_enables_a_collected_card_in_the_app(self):
        response = self.holder.post("/api/v1/card/enable")
        assert response.status_code in (200, 404, 409), response.json()

    @rule()
    def the_holder_shows_an_identity_code(self):
        shown = self.ecard()
        response = self.holder.post("/api/v1/codes", {"purpose": "identity"})
        if shown is None:
            assert response.status_code == 404
            return
        verdict = shown["services"]["identity"]
        # What the e-card says is what issuing does.
        if verdict["verdict"] == "allowed":
            assert response.status_code == 201, (verdict, response.json())
            self.codes.append((self._ecard_card_pk(), response.json()["code"]))
        elif verdict["verdict"] == "denied":
            assert response.status_code in (403, 409) and response.json()["code"] == verdict["code"], (
                verdict,
                response.json(),
            )
        else:
            assert response.status_code in (403, 409), (verdict, response.json())

    @rule()
    def a_bank_signs_the_holder_up_for_transit(self):
        card = self.pocket()
        if card is None:
            return
        proposed = self.bank.propose(card, agreement_id=f"AG-{next(_phones)}")
        if proposed.status_code in (200, 201) and proposed.json().get("state") == "pending":
            confirm(self.holder, proposed.json()["id"])

    # ------------------------------------------------------------------ the outlet

    def _cards(self, **lookup):
        return Card.objects.filter(holder=self.person, **lookup)

    @precondition(lambda self: self._cards(state__in=[CardState.ACTIVE, CardState.TEMPORARILY_LOST]).exists())
    @rule()
    def the_outlet_makes_the_loss_formal(self):
        card = Card.objects.filter(
            holder=self.person, state__in=[CardState.ACTIVE, CardState.TEMPORARILY_LOST]
        ).first()
        if card is not None:
            services.card_report_formal_loss(card=card, by=self.clerk)

    @precondition(lambda self: self._cards(state=CardState.LOST, replacement_applied_at=None).exists())
    @rule()
    def the_outlet_takes_a_replacement_for_a_lost_card(self):
        card = Card.objects.filter(
            holder=self.person, state=CardState.LOST, replacement_applied_at=None
        ).first()
        if card is not None:
            services.card_apply_replacement(card=card, kind="loss", by=self.clerk)

    @precondition(lambda self: self._cards(received_at=None).exclude(state=CardState.CANCELLED).exists())
    @rule()
    def the_clerk_hands_over_a_card_on_the_card_page(self):
        card = (
            Card.objects.filter(holder=self.person, received_at=None)
            .exclude(state=CardState.CANCELLED)
            .first()
        )
        if card is not None:
            services.card_mark_received(card=card, by=self.clerk)

    @precondition(lambda self: self._cards(state=CardState.SEALED).exclude(received_at=None).exists())
    @rule()
    def the_clerk_enables_a_collected_card_on_the_card_page(self):
        card = (
            Card.objects.filter(holder=self.person, state=CardState.SEALED).exclude(received_at=None).first()
        )
        if card is not None:
            services.card_enable(card=card, by=self.clerk)

    @precondition(lambda self: not CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES).exists())
    @rule()
    def the_holder_applies_for_a_card_in_another_province(self):
        from tests.ecard.services.test_applications import new_card_fields

        region = next(self.regions, None)
        if region is None or CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES).exists():
            return
        fields = new_card_fields(
            name=self.person.name, id_number=self.person.id_number, region=region, phone=self.person.phone
        )
        response = self.holder.api.post(
            "/api/v1/card-applications", fields, format="multipart", **self.holder.auth
        )
        assert response.status_code in (201, 409), response.json()

    @precondition(lambda self: CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES).exists())
    @rule(reject=st.booleans())
    def the_outlet_moves_an_application_one_step_on(self, reject):
        application = CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES).get()
        step = NEXT_STEP[application.state]
        if reject and application.state in ("submitted", "accepted"):
            services.application_advance(
                application=application, to="rejected", by=self.clerk, reason="照片不合格"
            )
        else:
            services.application_advance(application=application, to=step, by=self.clerk)

    @rule()
    def the_outlet_cancels_the_card_the_holder_moves_abroad(self):
        card = Card.objects.filter(holder=self.person).exclude(state=CardState.CANCELLED).first()
        if card is not None and len(self.cards()) == 1:
            services.card_cancel(card=card, reason="emigrated", by=self.clerk)

    # ------------------------------------------------------------------ the invariants

    @invariant()
    def no_application_stays_open_behind_a_card_handed_over_or_cancelled(self):
        for application in CardApplication.objects.filter(state__in=OPEN_APPLICATION_STATES):
            card = application.new_card
            if card is not None:
                assert card.received_at is None and card.state != CardState.CANCELLED, (
                    application.state,
                    card.state,
                )

    @invariant()
    def a_card_out_of_service_has_no_code_a_scanner_accepts_online_or_offline(self):
        gate, self.gate_revocations = offline_gate(self.identity_desk, revocations=self.gate_revocations)
        for card_pk, text in self.codes:
            state = Card.objects.get(pk=card_pk).state
            if state in (CardState.TEMPORARILY_LOST, CardState.LOST, CardState.CANCELLED):
                online = self.identity_desk.verdict(text)
                assert online["result"] == "rejected", (state, online)
                assert not gate.verify(text, purposes=["identity"]).accepted, state


def run_model(factory, *, examples=EXAMPLES, steps=STEPS, shrink=SHRINK):
    CardLifeModel.factory = staticmethod(factory)
    run_state_machine_as_test(
        CardLifeModel, settings=model_settings(examples=examples, steps=steps, randomly=RANDOM, shrink=shrink)
    )


@override_settings(QR_CLOCK_SKEW_SECONDS=1)
def test_no_holder_is_stranded_between_two_journeys(make_card, clerk, tmp_path, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "secret_account", "100000/min")
    run_model(lambda: (make_card, clerk, tmp_path))
