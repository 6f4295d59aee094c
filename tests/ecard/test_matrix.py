"""The service matrix of docs/domain.md: what an e-card may do in each card state."""

import pytest

from ecard import services
from ecard.matrix import MATRIX, Purpose, card_services, service_verdict
from tests.support import ROOT

A, AUTH, D = "allowed", "needs_authorisation", "denied"

EXPECTED = {
    # purpose:     active, temp. lost, lost, sealed, PIN locked, cancelled
    "identity": (A, AUTH, AUTH, A, A, D),
    "payment": (A, AUTH, AUTH, D, D, D),
    "transit": (A, AUTH, AUTH, D, A, D),
    "culture": (A, AUTH, AUTH, A, A, D),
}


@pytest.mark.parametrize("purpose", Purpose.values)
def test_the_matrix_matches_the_domain_table(purpose):
    states = ["active", "temporarily_lost", "lost", "sealed"]
    got = [service_verdict(purpose=purpose, state=s).verdict for s in states]
    got.append(service_verdict(purpose=purpose, state="active", pin_locked=True).verdict)
    got.append(service_verdict(purpose=purpose, state="cancelled").verdict)
    assert tuple(got) == EXPECTED[purpose]


def test_every_purpose_has_a_row_for_every_state():
    for row in MATRIX.values():
        assert set(row) == {
            "active",
            "temporarily_lost",
            "lost",
            "sealed",
            "pin_locked",
            "initial_pin",
            "in_production",
            "cancelled",
        }


# The columns of the table in docs/domain.md, as service_verdict is asked for each.
DOC_COLUMNS = {
    "active": {"state": "active"},
    "temporarily lost, lost": {"state": "temporarily_lost"},
    "sealed": {"state": "sealed"},
    "in production": {"state": "sealed", "in_production": True},
    "PIN locked": {"state": "active", "pin_locked": True},
    "initial PIN": {"state": "active", "initial_pin": True},
    "cancelled": {"state": "cancelled"},
}


def documented_matrix():
    lines = (ROOT / "docs" / "domain.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| purpose |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        purpose = cells[0].split("`")[1]
        yield purpose, dict(zip(header[1:], cells[1:], strict=True))


def _verdict_of(text):
    if text.startswith("yes"):
        return A
    if text.startswith("with the holder's authorisation"):
        return AUTH
    assert text.startswith("no"), text
    return D


def test_the_matrix_says_what_the_table_in_docs_domain_md_says_for_every_column():
    documented = dict(documented_matrix())
    assert set(documented) == set(Purpose.values)
    for purpose, row in documented.items():
        assert set(row) == set(DOC_COLUMNS), purpose
        for column, text in row.items():
            got = service_verdict(purpose=purpose, transit_payment_linked=True, **DOC_COLUMNS[column])
            assert got.verdict == _verdict_of(text), (purpose, column, got)
        both_lost = service_verdict(purpose=purpose, state="lost").verdict
        assert both_lost == _verdict_of(row["temporarily lost, lost"]), purpose


def test_a_collected_card_on_its_initial_pin_cannot_pay_until_the_pin_is_changed(make_card, system, settings):
    card = make_card(pin=None)
    assert card_services(card)["payment"].code == "card.initial_pin"
    assert (
        card_services(card)["identity"].verdict == A
        and card_services(card)["transit"].code != "card.initial_pin"
    )
    card = services.card_change_pin(card=card, old_pin=settings.CARD_INITIAL_PIN, new_pin="740285", by=system)
    assert card_services(card)["payment"].verdict == A
    settings.CARD_INITIAL_PIN_CAN_PAY = True
    assert card_services(make_card(pin=None))["payment"].verdict == A


def test_a_card_in_production_allows_identity_culture_and_payment_but_not_transit():
    verdicts = {
        purpose: service_verdict(purpose=purpose, state="sealed", in_production=True).verdict
        for purpose in ("identity", "culture", "payment", "transit")
    }
    assert verdicts == {
        "identity": "allowed",
        "culture": "allowed",
        "payment": "allowed",
        "transit": "denied",
    }
    assert service_verdict(purpose="payment", state="sealed").verdict == "denied"  # collected, not enabled


def test_denials_carry_the_reason():
    assert service_verdict(purpose="payment", state="sealed").code == "card.not_enabled"
    assert service_verdict(purpose="payment", state="active", pin_locked=True).code == "card.pin_locked"
    assert service_verdict(purpose="identity", state="cancelled").code == "card.cancelled"
    assert service_verdict(purpose="culture", state="lost").code == "card.lost"


def test_transit_needs_a_linked_payment_method():
    answer = service_verdict(purpose="transit", state="active", transit_payment_linked=False)
    assert (answer.verdict, answer.code) == (D, "transit.no_payment_method")


def test_the_most_restrictive_column_wins_for_a_lost_and_locked_card():
    answer = service_verdict(purpose="payment", state="lost", pin_locked=True)
    assert (answer.verdict, answer.code) == (D, "card.pin_locked")


def test_an_expired_card_works_until_replaced_by_default(settings):
    assert service_verdict(purpose="payment", state="active", expired=True).verdict == A
    settings.CARD_EXPIRED_USABLE = False
    answer = service_verdict(purpose="payment", state="active", expired=True)
    assert (answer.verdict, answer.code) == (D, "card.expired")


def test_a_cards_services_follow_its_state(card, system):
    assert card_services(card)["payment"].verdict == A
    assert card_services(card)["transit"].code == "transit.no_payment_method"
    card = services.card_report_temporary_loss(card=card, by=system)
    verdicts = {p: a.verdict for p, a in card_services(card).items()}
    # Transit still has no linked payment method, which outranks the authorisation.
    assert verdicts == {"payment": AUTH, "culture": AUTH, "identity": AUTH, "transit": D}
