from io import StringIO

from django.core.management import call_command

from accounts.models import User
from ecard.models import AuditEvent, Card


def test_seed_demo_makes_cards_in_every_state_and_prints_working_logins(db, client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert set(Card.objects.values_list("state", flat=True)) == {
        "sealed",
        "active",
        "temporarily_lost",
        "lost",
        "cancelled",
    }
    assert Card.objects.filter(pin_locked=True).exists()
    assert AuditEvent.objects.filter(action="card.loss_reported").exists()
    password = next(
        line.split()[1] for line in out.getvalue().splitlines() if line.strip().startswith("clerk ")
    )
    assert client.login(username="clerk", password=password)
    assert client.get("/admin/ecard/card/").status_code == 200


def test_seed_demo_twice_adds_nothing(db):
    call_command("seed_demo", stdout=StringIO())
    cards = Card.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert Card.objects.count() == cards and User.objects.filter(username="admin").count() == 1
