"""What several modules must agree on, because they change together: a purpose, a card state.

The verifier is copied by scanner vendors and so keeps its own purpose sets instead of importing
the card domain's ``Purpose``; these tests are what keeps the copies honest. Each module named in
``TOGETHER`` says at its top which others change with it.
"""

import json
import re

import pytest
from django.conf import settings

from codes import verifier
from ecard import services
from ecard.matrix import MATRIX, REVOKING_STATES, Purpose, Verdict
from ecard.models import CardState
from tests.codes.test_verifier import offline_gate
from tests.support import ROOT, issue_code

# Purpose numbers the service matrix does not judge: the pick-up certificate, online only.
SERVER_ONLY_PURPOSES = {"certificate"}
VERIFIER_SETS = {
    "SINGLE_USE": verifier.SINGLE_USE,
    "DEVICE_PURPOSES": verifier.DEVICE_PURPOSES,
    "FAMILY_PURPOSES": verifier.FAMILY_PURPOSES,
    "ONLINE_ONLY": verifier.ONLINE_ONLY,
    "DEVICE_LIFETIMES": set(verifier.DEVICE_LIFETIMES),
    "REVOCATIONS_MAX_AGE": set(verifier.REVOCATIONS_MAX_AGE),
}
TOGETHER = {
    "ecard/matrix.py": ["codes/verifier.py", "QR_LIFETIMES", "docs/qr-format.md"],
    "codes/verifier.py": [
        "ecard/matrix.py",
        "codes/device_signer.py",
        "plumbing/national.py",
        "docs/qr-format.md",
    ],
    "codes/device_signer.py": ["codes/verifier.py", "ecard/static/ecard/device.js"],
    "plumbing/national.py": ["codes/verifier.py"],
    "ecard/static/ecard/device.js": ["codes/verifier.py", "codes/device_signer.py"],
}


def test_the_verifier_numbers_every_purpose_of_the_matrix_and_only_the_pickup_certificate_besides():
    assert set(verifier.PURPOSES.values()) == set(Purpose.values) | SERVER_ONLY_PURPOSES


@pytest.mark.parametrize("name", sorted(VERIFIER_SETS))
def test_each_purpose_set_of_the_verifier_names_only_purposes_it_numbers(name):
    assert VERIFIER_SETS[name] and VERIFIER_SETS[name] <= set(verifier.PURPOSES.values())


def test_every_purpose_is_either_online_only_or_has_an_age_past_which_an_offline_gate_refuses_it():
    offline = set(verifier.REVOCATIONS_MAX_AGE)
    assert offline.isdisjoint(verifier.ONLINE_ONLY)
    assert offline | verifier.ONLINE_ONLY == set(verifier.PURPOSES.values())
    assert set(settings.QR_REVOCATIONS_MAX_AGE) == offline


def test_every_purpose_has_a_lifetime_and_a_device_signed_code_lives_as_long_as_a_server_signed_one():
    assert set(settings.QR_LIFETIMES) == set(Purpose.values)
    assert set(verifier.DEVICE_LIFETIMES) == verifier.DEVICE_PURPOSES
    assert verifier.DEVICE_LIFETIMES == {p: settings.QR_LIFETIMES[p] for p in verifier.DEVICE_PURPOSES}


def test_the_matrix_has_a_row_per_purpose_and_a_column_per_card_state():
    assert set(MATRIX) == set(Purpose.values)
    for purpose, row in MATRIX.items():
        assert set(row) == set(CardState.values) | {"in_production", "pin_locked", "initial_pin"}, purpose


def test_the_states_that_revoke_earlier_codes_are_those_in_which_nothing_is_plainly_allowed():
    assert REVOKING_STATES == {CardState.TEMPORARILY_LOST, CardState.LOST, CardState.CANCELLED}
    for state in CardState.values:
        verdicts = {MATRIX[purpose][state].verdict for purpose in MATRIX}
        assert (Verdict.ALLOWED not in verdicts) == (state in REVOKING_STATES), state


# How a card reaches each revoking state; a new revoking state without a way here fails below.
REACH = {
    CardState.TEMPORARILY_LOST: lambda card, by: services.card_report_temporary_loss(card=card, by=by),
    CardState.LOST: lambda card, by: services.card_report_formal_loss(card=card, by=by),
    CardState.CANCELLED: lambda card, by: services.card_cancel(card=card, reason="emigrated", by=by),
}


def test_every_revoking_state_has_a_way_in_tested_below():
    assert set(REACH) == REVOKING_STATES


def test_every_revoking_state_and_every_refusal_of_the_matrix_has_its_message():
    from plumbing.errors import CATALOGUE

    codes = {f"card.{state}" for state in REVOKING_STATES}
    codes |= {answer.code for row in MATRIX.values() for answer in row.values() if answer.code}
    assert sorted(code for code in codes if code not in CATALOGUE) == []


@pytest.mark.django_db
@pytest.mark.parametrize("state", sorted(REACH))
def test_a_card_entering_a_revoking_state_makes_offline_gates_refuse_its_earlier_codes(
    state, app_holder, scanner, system
):
    text = issue_code(app_holder, "culture")
    gate, revocations = offline_gate(scanner)
    assert gate.verify(text, purposes=["culture"]).accepted
    REACH[state](app_holder.card, system)
    gate, _ = offline_gate(scanner, revocations=revocations)
    result = gate.verify(text, purposes=["culture"])
    assert not result.accepted and result.code == f"card.{state}"


@pytest.mark.django_db
def test_the_holders_api_lists_a_verdict_for_every_purpose(app_holder):
    services_out = app_holder.get("/api/v1/ecard").json()["services"]
    assert list(services_out) == list(Purpose.values)


def test_the_verifier_and_the_family_service_let_a_presenter_show_the_same_purposes():
    from ecard.services.family import FAMILY_PURPOSES

    assert set(FAMILY_PURPOSES) == verifier.FAMILY_PURPOSES and "transit" not in FAMILY_PURPOSES


def test_the_phones_signer_numbers_purposes_and_sizes_certificates_as_the_verifier_does():
    source = (ROOT / "ecard/static/ecard/device.js").read_text()
    codes = re.search(r"const PURPOSE_CODES = (\{[^}]*\});", source).group(1)
    codes = json.loads(re.sub(r"(\w+):", r'"\1":', codes))
    assert codes == {p: verifier.PURPOSE_CODES[p] for p in verifier.DEVICE_PURPOSES}
    size = int(re.search(r"const CERTIFICATE_SIZE = (\d+);", source).group(1))
    assert size == verifier.CERTIFICATE_SIZE


@pytest.mark.parametrize("module", sorted(TOGETHER))
def test_the_modules_that_change_together_name_each_other_at_their_top(module):
    head = (ROOT / module).read_text()[:2000]
    assert "Changes together with" in head, module
    assert [other for other in TOGETHER[module] if other not in head] == []
