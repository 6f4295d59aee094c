"""The attacker's model: the card's life driven through the public API by holders and by the
actors who should not get in, with one invariant checked after every step — nobody reaches a
holder's data, codes, card or agreements except through an edge of ``ecard.authority``.

The actors: a father who is his daughter's guardian (an outlet recorded it); a victim; a
stranger with an e-card of his own who holds the victim's and the child's printed data (name,
ID number, card number); a payment provider holding the same data, and a disabled one; a
transit gate and a pharmacy scanner, each with its purposes. The model keeps what the edges are
(who guards the child, who presents whom, which agreements the holders confirmed, which codes
were spent) and every step's answer is compared with it.

Bounded here (``ATTACK_MODEL_EXAMPLES``, ``ATTACK_MODEL_STEPS``); ``make attack-model`` is the
long run. The tests at the end put back each attack the issue found and expect the model to
find it."""

import itertools
import os
import time

import pytest
from django.conf import settings as django_settings
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

from ecard import services
from ecard.audit import Actor
from ecard.models import Card, CardApplication, ECardChannel
from tests.ecard.services.test_applications import new_card_fields
from tests.ecard.services.test_payments import Provider
from tests.support import ECARD_PASSWORD, Holder_, Scanner, clean_stores, model_settings, years_ago

pytestmark = pytest.mark.django_db

ADULTS = ("father", "victim", "stranger")
EXAMPLES = int(os.environ.get("ATTACK_MODEL_EXAMPLES", "12"))
STEPS = int(os.environ.get("ATTACK_MODEL_STEPS", "25"))
RANDOM = os.environ.get("ATTACK_MODEL_RANDOM") == "1"
SHRINK = os.environ.get("ATTACK_MODEL_SHRINK") == "1"  # a failure's shortest walk, when asked
_phones = itertools.count(1)


def _six_years_ago():
    return years_ago(6)


class World:
    """What one example starts from: built through the services and the API as a test would."""

    def __init__(self, make_card, make_holder, tmp_path, clerk):
        from accounts.services import holder_set_guardian

        system = Actor.system("tests")
        self.clerk = Actor.staff(clerk)
        self.people = {}
        for name, who in zip(ADULTS, ("张伟", "李娜", "王五"), strict=True):
            card = make_card(holder=make_holder(name=who))
            self.people[name] = Holder_(APIClient(), card, f"138{next(_phones):08d}")
        self.child = make_holder(name="张小雨", born=_six_years_ago())
        holder_set_guardian(
            holder=self.child, guardian=self.holder("father"), proof="birth_certificate", by=system
        )
        child_card = make_card(holder=self.child, region="31")
        services.ecard_issue(card=child_card, channel=ECardChannel.NATIONAL_APP, password="135790", by=system)
        # A card in service with no e-card: the provider must not learn that it has none.
        self.bare = make_card(holder=make_holder(name="赵六"))
        Card.objects.update(financial_active=True)  # activated at the bank, every one
        self.bank = Provider(tmp_path, name="工商银行")
        self.disabled = Provider(tmp_path, name="停用支付")
        from ecard.models import PaymentProvider

        PaymentProvider.objects.filter(provider_id=self.disabled.provider_id).update(enabled=False)
        self.gate = Scanner(organisation="北京地铁", kind="transit_gate", purposes=("transit",))
        self.pharmacy = Scanner(organisation="同仁堂", kind="medical", purposes=("payment", "identity"))

    def holder(self, name):
        return self.child if name == "child" else self.people[name].card.holder

    def card(self, name):
        return Card.objects.filter(holder=self.holder(name)).order_by("id").first()


class AttackersModel(RuleBasedStateMachine):
    world_factory = None  # set by the test: the fixtures' makers

    def __init__(self):
        super().__init__()
        # Each example starts from the same world and leaves nothing behind.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        clean_stores()
        self.w = self.world_factory()
        self.guardian = {"child": "father"}  # ward → the adult who guards them
        self.pending_claims = {}  # application id → applicant
        self.invitations = {}  # (presenter, member) → link id, waiting for consent
        self.presents = {}  # (presenter, member) → link id, consented
        self.proposed = {}  # holder → {agreement id: "pending" | "live" | "ended"}
        self.lost = set()
        self.codes = []  # (owner, purpose, code, when it was issued)
        self.spent = set()
        self.clock = 0  # steps that issue or revoke, in order
        self.revoked = {}  # holder → the clock when their earlier codes were revoked
        self.provider_tokens = []
        self.regions = iter(("44", "51", "32", "33", "35", "37", "42", "43", "45", "50", "52", "53"))

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        clean_stores()

    # ------------------------------------------------------------------ the edges, as the model has them

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def revoke_earlier_codes(self, holder) -> None:
        self.revoked[holder] = self.tick()

    def may_act_for(self, actor, holder) -> bool:
        return actor == holder or self.guardian.get(holder) == actor

    def live(self, holder) -> bool:
        return "live" in self.proposed.get(holder, {}).values()

    # ------------------------------------------------------------------ guardians

    @rule(applicant=st.sampled_from(ADULTS))
    def an_adult_applies_for_the_childs_card_with_a_made_up_proof(self, applicant):
        person = self.w.people[applicant]
        fields = new_card_fields(
            name=self.w.child.name,
            id_number=self.w.child.id_number,
            region=next(self.regions, "46"),
            phone="13900009999",
            guardian_proof="birth_certificate",
            guardian_proof_number="FORGED-0001",
        )
        response = person.api.post("/api/v1/card-applications", fields, format="multipart", **person.auth)
        assert response.status_code in (201, 409), response.json()
        if response.status_code == 201 and self.guardian.get("child") != applicant:
            self.pending_claims[response.json()["id"]] = applicant

    @precondition(lambda self: self.pending_claims)
    @rule(data=st.data(), accept=st.booleans())
    def staff_check_the_proof(self, data, accept):
        application_id = data.draw(st.sampled_from(sorted(self.pending_claims)))
        applicant = self.pending_claims.pop(application_id)
        application = CardApplication.objects.get(public_id=application_id)
        if accept:
            services.application_advance(application=application, to="accepted", by=self.w.clerk)
            if self.guardian["child"] != applicant:
                self.revoke_earlier_codes("child")  # what the one replaced holds stops working
            self.guardian["child"] = applicant  # the edge staff make; the one before it ends
        else:
            services.application_advance(
                application=application, to="rejected", reason="关系证明不符", by=self.w.clerk
            )

    @rule(actor=st.sampled_from(ADULTS))
    def someone_asks_for_the_childs_code(self, actor):
        response = self.w.people[actor].post(
            f"/api/v1/codes?ward={self.w.child.public_id}", {"purpose": "identity"}
        )
        expected = 201 if self.may_act_for(actor, "child") else 404
        assert response.status_code == expected, (actor, self.guardian, response.json())
        if response.status_code == 201:
            self.codes.append(("child", "identity", response.json().get("code"), self.tick()))

    # ------------------------------------------------------------------ binding from printed data

    @rule(target_=st.sampled_from(("victim", "father")))
    def the_stranger_binds_someone_elses_card_from_printed_data(self, target_):
        card = self.w.card(target_)
        named = {"name": card.holder.name, "id_number": card.holder.id_number, "card_number": card.number}
        stranger = self.w.people["stranger"]
        challenge = stranger.post("/api/v1/ecard/apply/challenge", named)
        body = {
            **named,
            "challenge_id": challenge.json().get("challenge_id", "x"),
            "sms_code": "000000",  # the SMS went to the holder's phone
            "identity_token": "dev-ok",
            "password": "123456",  # the initial PIN printed on the mailer
        }
        response = stranger.post("/api/v1/ecard/apply", body)
        assert response.status_code >= 400, response.json()
        assert response.status_code != 500

    # ------------------------------------------------------------------ family

    @rule(presenter=st.sampled_from(ADULTS), member=st.sampled_from(ADULTS))
    def an_adult_invites_another_to_be_shown_by_them(self, presenter, member):
        if presenter == member or (presenter, member) in self.presents:
            return
        holder = self.w.holder(member)
        response = self.w.people[presenter].post(
            "/api/v1/family", {"name": holder.name, "id_number": holder.id_number, "relationship": "other"}
        )
        if response.status_code == 201:
            self.invitations[(presenter, member)] = response.json()["id"]
        else:  # already asked, or throttled (ten a minute): nothing made either way
            assert response.status_code in (409, 429), response.json()

    @precondition(lambda self: self.invitations)
    @rule(data=st.data(), by_the_member=st.booleans())
    def an_invitation_is_accepted(self, data, by_the_member):
        presenter, member = data.draw(st.sampled_from(sorted(self.invitations)))
        link = self.invitations[(presenter, member)]
        who = member if by_the_member else presenter  # the presenter cannot consent for them
        response = self.w.people[who].post(
            f"/api/v1/family/invitations/{link}/accept", {"password": ECARD_PASSWORD}
        )
        if response.status_code == 429:
            return  # throttled: nothing changed
        if by_the_member:
            assert response.status_code == 200, response.json()
            self.presents[(presenter, member)] = self.invitations.pop((presenter, member))
        else:
            assert response.status_code == 404, response.json()

    @precondition(lambda self: self.presents)
    @rule(data=st.data())
    def a_member_ends_a_presenters_consent(self, data):
        presenter, member = data.draw(st.sampled_from(sorted(self.presents)))
        link = self.presents.pop((presenter, member))
        response = self.w.people[member].delete(f"/api/v1/family/presenters/{link}")
        assert response.status_code == 204, response.content

    @rule(actor=st.sampled_from(ADULTS), member=st.sampled_from(ADULTS))
    def someone_asks_for_a_members_code(self, actor, member):
        link = self.presents.get((actor, member)) or self.invitations.get((actor, member))
        link = link or next((v for (p, m), v in self.presents.items() if m == member), None)
        if link is None:
            return
        response = self.w.people[actor].post(f"/api/v1/codes?member={link}", {"purpose": "identity"})
        allowed = self.presents.get((actor, member)) == link
        expected = (409 if member in self.lost else 201) if allowed else 404
        assert response.status_code == expected, (actor, member, response.json())
        if response.status_code == 201:
            self.codes.append((member, "identity", response.json().get("code"), self.tick()))

    # ------------------------------------------------------------------ payment providers

    def _propose(self, provider, card, id_number, agreement_id, token=None):
        body = {
            "agreement_id": agreement_id,
            "card_number": card.number,
            "id_number": id_number,
            "method": "bank_card",
            "account_masked": "6222****1234",
        }
        token = token or provider.token()
        self.provider_tokens.append((provider, token))
        return provider.api.post(
            "/api/v1/providers/payment-agreements", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )

    @rule(holder=st.sampled_from(ADULTS), number=st.integers(1, 3))
    def the_provider_proposes_from_printed_data(self, holder, number):
        card = self.w.card(holder)
        response = self._propose(self.w.bank, card, card.holder.id_number, f"AG-{holder}-{number}")
        if holder in self.lost:
            assert response.json().get("code") == "agreement.holder_mismatch", response.json()
            return
        known = self.proposed.setdefault(holder, {})
        if response.status_code == 409:
            assert response.json().get("code") == "agreement.ended", response.json()
            return
        assert response.status_code in (200, 201), response.json()
        agreement = response.json()["id"]
        state = known.setdefault(agreement, "pending")
        # The provider proposes; only the holder's confirmation makes it pay.
        assert response.json()["state"] == state, (state, response.json())

    @rule(wrong_id=st.booleans())
    def the_provider_learns_nothing_about_a_card_from_the_answer(self, wrong_id):
        card = self.w.bare if not wrong_id else self.w.card("victim")
        id_number = card.holder.id_number if not wrong_id else self.w.holder("stranger").id_number
        response = self._propose(self.w.bank, card, id_number, "AG-probe")
        assert (response.status_code, response.json().get("code")) == (422, "agreement.holder_mismatch")

    @rule(holder=st.sampled_from(ADULTS))
    def a_disabled_provider_proposes(self, holder):
        card = self.w.card(holder)
        response = self._propose(self.w.disabled, card, card.holder.id_number, "AG-disabled")
        assert response.status_code == 403 and response.json().get("code") == "provider.disabled", (
            response.json()
        )

    @precondition(lambda self: self.provider_tokens)
    @rule(data=st.data())
    def a_provider_token_is_replayed(self, data):
        provider, token = data.draw(st.sampled_from(self.provider_tokens))
        card = self.w.card("victim")
        response = self._propose(provider, card, card.holder.id_number, "AG-replayed", token=token)
        expected = "provider.token_replayed" if provider is self.w.bank else "provider.disabled"
        assert response.status_code in (401, 403) and response.json().get("code") == expected, response.json()

    @precondition(lambda self: any("pending" in a.values() for a in self.proposed.values()))
    @rule(data=st.data(), actor=st.sampled_from(ADULTS))
    def a_pending_agreement_is_confirmed(self, data, actor):
        holder, agreement = data.draw(
            st.sampled_from(
                sorted((h, a) for h, ags in self.proposed.items() for a, s in ags.items() if s == "pending")
            )
        )
        response = self.w.people[actor].post(
            f"/api/v1/ecard/payment-agreements/{agreement}/confirm", {"password": ECARD_PASSWORD}
        )
        if actor != holder:
            assert response.status_code == 404, response.json()
            return
        if holder in self.lost:
            assert response.status_code == 409 and response.json().get("code") == "card.not_active", (
                response.json()
            )
            return
        assert response.status_code == 200, response.json()
        # One live agreement per e-card: a confirmed one ends the one before it.
        for other, state in self.proposed[holder].items():
            if state == "live":
                self.proposed[holder][other] = "ended"
                self.revoke_earlier_codes(holder)
        self.proposed[holder][agreement] = "live"

    @precondition(lambda self: any(self.live(h) for h in ADULTS))
    @rule(data=st.data())
    def a_holder_ends_their_agreement(self, data):
        holder = data.draw(st.sampled_from([h for h in ADULTS if self.live(h)]))
        [agreement] = [a for a, s in self.proposed[holder].items() if s == "live"]
        response = self.w.people[holder].delete(f"/api/v1/ecard/payment-agreements/{agreement}")
        assert response.status_code == 200, response.json()
        self.proposed[holder][agreement] = "ended"
        self.revoke_earlier_codes(holder)  # an ended agreement revokes the codes shown under it

    # ------------------------------------------------------------------ the card, codes and scanners

    @rule(holder=st.sampled_from(("victim", "stranger")))
    def a_holder_reports_the_card_lost(self, holder):
        if holder in self.lost:
            return
        response = self.w.people[holder].post("/api/v1/card/loss-report")
        assert response.status_code == 200, response.json()
        self.lost.add(holder)  # a proposal waits on; only a card in service can confirm it
        # Whoever found the card has its printed data: a provider takes no agreement on it.
        card = self.w.card(holder)
        found = self._propose(self.w.bank, card, card.holder.id_number, f"AG-found-{holder}")
        assert found.json().get("code") == "agreement.holder_mismatch", found.json()

    @precondition(lambda self: self.lost)
    @rule(data=st.data())
    def a_holder_lifts_the_loss(self, data):
        holder = data.draw(st.sampled_from(sorted(self.lost)))
        proof = {"identity_token": django_settings.IDENTITY_DEV_TOKEN}  # the holder's own face
        for other in ADULTS:  # anyone else naming the holder's card is answered as if it were not there
            if other != holder:
                response = self.w.people[other].post(
                    f"/api/v1/card/loss-lift?ward={self.w.holder(holder).public_id}", proof
                )
                assert response.status_code == 404, response.json()
        response = self.w.people[holder].post("/api/v1/card/loss-lift", proof)
        assert response.status_code == 200, response.json()
        self.lost.discard(holder)

    @rule(holder=st.sampled_from(ADULTS), purpose=st.sampled_from(("payment", "identity", "transit")))
    def a_holder_asks_for_a_code(self, holder, purpose):
        response = self.w.people[holder].post("/api/v1/codes", {"purpose": purpose})
        if holder in self.lost:  # nothing without the holder's authorisation of each use
            assert response.status_code == 409, response.json()
            return
        if purpose == "transit" and not self.live(holder):
            assert response.status_code == 409, response.json()
            assert response.json().get("code") == "transit.no_payment_method"
            return
        assert response.status_code == 201, (holder, purpose, response.json())
        self.codes.append((holder, purpose, response.json().get("code"), self.tick()))

    @precondition(lambda self: self.codes)
    @rule(data=st.data(), at_the_gate=st.booleans())
    def a_scanner_reads_a_code(self, data, at_the_gate):
        owner, purpose, code, issued = data.draw(st.sampled_from(self.codes))
        scanner = self.w.gate if at_the_gate else self.w.pharmacy
        verdict = scanner.verdict(code)
        if purpose not in scanner.device.purposes:
            assert verdict["code"] == "code.purpose_not_allowed", verdict
            return
        if owner in self.lost:
            assert verdict["result"] == "rejected", verdict
            return
        if purpose == "transit" and not self.live(owner):
            assert verdict["result"] == "rejected", verdict
            return
        if code in self.spent or issued < self.revoked.get(owner, -1):
            # Spent, or revoked since: an agreement ended, the child's guardian replaced.
            assert verdict["result"] == "rejected", verdict
            return
        if owner not in ("child",) and verdict["code"] == "family.consent_ended":
            return  # a member's code after the consent ended: the refusal is the point
        assert verdict["result"] == "accepted", (owner, purpose, verdict)
        if purpose != "identity":
            self.spent.add(code)

    # ------------------------------------------------------------------ the invariant

    @invariant()
    def nobody_reaches_anyone_except_through_an_edge(self):
        child = str(self.w.child.public_id)
        for actor in ADULTS:
            person = self.w.people[actor]
            # One's own e-card, never another's: the card behind the account is the one bound.
            own = person.get("/api/v1/ecard").json()
            assert own["card"]["number_masked"] == self.w.card(actor).number_masked, actor
            wards = [w["id"] for w in person.get("/api/v1/wards").json()]
            assert wards == ([child] if self.guardian["child"] == actor else []), (actor, self.guardian)
            status = person.get(f"/api/v1/ecard?ward={child}").status_code
            assert status == (200 if self.guardian["child"] == actor else 404), (actor, self.guardian)
            shown = {f["id"] for f in person.get("/api/v1/family").json() if f["state"] == "active"}
            assert shown == {v for (p, _), v in self.presents.items() if p == actor}, actor
            listed = {a["id"]: a["state"] for a in person.get("/api/v1/ecard/payment-agreements").json()}
            expected = self.proposed.get(actor, {})
            assert set(listed) <= set(expected), (actor, listed, expected)
            for agreement, state in listed.items():
                assert (state == "live") == (expected[agreement] == "live"), (
                    actor,
                    agreement,
                    listed,
                    expected,
                )


def run_model(world_factory, *, examples=EXAMPLES, steps=STEPS, shrink=SHRINK):
    AttackersModel.world_factory = staticmethod(world_factory)
    run_state_machine_as_test(
        AttackersModel,
        settings=model_settings(examples=examples, steps=steps, randomly=RANDOM, shrink=shrink),
    )


@pytest.fixture
def world(make_card, make_holder, tmp_path, clerk, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    # The walk makes a holder's ten secret-guarding calls a minute in seconds: the throttle is
    # tested on its own (test_api_auth), and here it would only hide what the model looks for.
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "secret_account", "100000/min")
    return lambda: World(make_card, make_holder, tmp_path, clerk)


@override_settings(QR_CLOCK_SKEW_SECONDS=1)
def test_no_actor_reaches_a_holder_except_through_an_edge_of_the_authority_model(world):
    started = time.monotonic()
    run_model(world)
    print(f"attacker's model: {EXAMPLES} walks of up to {STEPS} steps in {time.monotonic() - started:.1f} s")


# --------------------------------------------------------------------------- each attack, put back


def _an_application_makes_the_guardian(monkeypatch):
    from django.contrib.auth import get_user_model

    from ecard.services import applications

    submit = services.application_submit_new

    def submit_and_grant(**kwargs):
        application = submit(**kwargs)
        if application.guardian_claim == "pending":  # as before: the application's say-so
            staff = Actor.staff(get_user_model().objects.filter(is_staff=True).first())
            applications._grant_guardian_claim(application, by=staff)
            application.save()
        return application

    monkeypatch.setattr(services, "application_submit_new", submit_and_grant)


def _a_proposal_binds_at_once(monkeypatch):
    from django.utils import timezone

    from ecard.services import payments

    propose = services.agreement_propose

    def propose_and_bind(**kwargs):
        agreement, created = propose(**kwargs)
        if created:
            agreement.confirmed_at = timezone.now()
            agreement.save(update_fields=["confirmed_at"])
            payments._set_transit(agreement.ecard)
        return agreement, created

    monkeypatch.setattr(services, "agreement_propose", propose_and_bind)


def _provider_tokens_are_not_tracked(monkeypatch):
    from plumbing import assertions

    monkeypatch.setattr(assertions, "use_once", lambda *args, **kwargs: None)


def _scanners_verify_any_purpose(monkeypatch):
    from codes import verifier

    check = verifier.Verifier.check
    monkeypatch.setattr(verifier.Verifier, "check", lambda self, text, purposes=None: check(self, text))


def _a_ward_is_anyones_who_names_them(monkeypatch):
    import uuid

    from accounts.models import Holder
    from ecard import authority

    own = authority.holder_for

    def holder_for(user, *, ward=None):
        if ward is None:
            return own(user)
        found = Holder.objects.filter(public_id=uuid.UUID(str(ward))).first()
        if found is None or not found.is_minor():
            raise authority.DomainError("request.not_found")
        return found

    monkeypatch.setattr(authority, "holder_for", holder_for)


def _the_answer_tells_a_card_without_an_e_card(monkeypatch):
    from ecard.models import ECard
    from ecard.services import payments
    from plumbing.errors import DomainError

    ecard_for = payments._ecard_for

    def telling(card_number, id_number, method):
        if not ECard.objects.filter(card__number=card_number).exists():
            raise DomainError("agreement.financial_inactive")  # any answer of its own says it
        return ecard_for(card_number, id_number, method)

    monkeypatch.setattr(payments, "_ecard_for", telling)


def _a_lost_card_takes_an_agreement(monkeypatch):
    from ecard.models import ECard
    from ecard.services import payments
    from plumbing.errors import DomainError

    def any_state(card_number, id_number, method):
        ecard = ECard.objects.select_related("card__holder").filter(card__number=card_number).first()
        if ecard is None or ecard.card.holder.id_number != id_number:
            raise DomainError("agreement.holder_mismatch")
        return ecard  # as before: whatever the card's state

    monkeypatch.setattr(payments, "_ecard_for", any_state)


@pytest.mark.parametrize(
    "attack",
    [
        _an_application_makes_the_guardian,
        _a_proposal_binds_at_once,
        _provider_tokens_are_not_tracked,
        _scanners_verify_any_purpose,
        _a_ward_is_anyones_who_names_them,
        _the_answer_tells_a_card_without_an_e_card,
        _a_lost_card_takes_an_agreement,
    ],
    ids=lambda attack: attack.__name__.strip("_"),
)
def test_the_model_finds_each_attack_put_back(world, monkeypatch, attack):
    attack(monkeypatch)
    with pytest.raises(AssertionError):
        run_model(world, examples=20, steps=STEPS, shrink=False)
