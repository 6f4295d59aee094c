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


def test_seed_demo_prints_holder_logins_and_a_card_that_binds_as_the_readme_says(db):
    import re

    from django.conf import settings
    from rest_framework.test import APIClient

    from tests.support import sms_code

    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    logins = dict(re.findall(r"^  (1\d{10})  (\S+)$", text, re.M))
    assert set(logins) == {"13800000001", "13800000004", "13900000003"}
    api = APIClient()

    def sign_in(phone):
        tokens = api.post("/api/v1/auth/token", {"phone": phone, "password": logins[phone]}, format="json")
        assert tokens.status_code == 200, phone
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")

    sign_in("13800000001")
    assert api.get("/api/v1/ecard").json()["card"]["state"] == "active"
    sign_in("13800000004")
    assert api.get("/api/v1/ecard").json()["card"]["state"] == "temporarily_lost"

    sign_in("13900000003")
    printed = re.search(r"name (\S+), id_number (\S+), card_number (\S+);", text).groups()
    named = dict(zip(["name", "id_number", "card_number"], printed, strict=True))
    challenge = api.post("/api/v1/ecard/apply/challenge", named, format="json").json()
    card = Card.objects.get(number=named["card_number"])
    assert settings.IDENTITY_DEV_TOKEN in text
    body = {
        **named,
        "challenge_id": challenge["challenge_id"],
        "sms_code": sms_code(card.holder.phone),
        "identity_token": settings.IDENTITY_DEV_TOKEN,
        "password": "730519",
    }
    assert api.post("/api/v1/ecard/apply", body, format="json").status_code == 201


def test_seed_demo_prints_the_pages_and_a_holder_login_that_signs_in_on_the_h5_page(db, client):
    out = StringIO()
    call_command("seed_demo", url="http://127.0.0.1:8000/", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8000/ " in text and "http://127.0.0.1:8000/admin/" in text
    assert "http://127.0.0.1:8000/api/docs/" in text
    phone, password = next(
        line.split() for line in text.splitlines() if line.strip().startswith("13800000001")
    )
    assert client.get("/").status_code == 200
    signed_in = client.post(
        "/api/v1/auth/token", {"phone": phone, "password": password}, content_type="application/json"
    )
    assert signed_in.status_code == 200
    ecard = client.get("/api/v1/ecard", HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['access']}")
    assert ecard.json()["card"]["state"] == "active"
