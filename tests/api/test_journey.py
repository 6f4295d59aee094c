"""The whole holder journey through the HTTP API, as the mini-program drives it."""

from django.conf import settings

from ecard import services
from ecard.audit import Actor
from ecard.models import Card, Notice
from tests.support import ECARD_PASSWORD, Holder_


def test_the_whole_holder_journey(db, api, make_card, clerk):
    card = make_card("sealed")
    holder = Holder_(api, card, "13900000009")

    # The e-card and the matrix of a sealed card.
    body = holder.get("/api/v1/ecard").json()
    assert body["card"]["state"] == "sealed" and body["card"]["state_text"] == "封存"
    assert body["card"]["number_masked"] == card.number_masked and card.number not in str(body)
    assert body["holder"]["id_number_masked"] == card.holder.id_number_masked
    assert card.holder.id_number not in str(body) and card.holder.name not in str(body)
    assert {k: body["services"]["payment"][k] for k in ("verdict", "code")} == {
        "verdict": "denied",
        "code": "card.not_enabled",
    }
    assert "请先启用" in body["services"]["payment"]["message"]
    assert body["services"]["identity"] == {
        "verdict": "allowed",
        "code": None,
        "message": None,
        "message_en": None,
    }

    # Changing the initial PIN enables the card.
    body = holder.post("/api/v1/card/pin", {"old_pin": "123456", "new_pin": "802461"}).json()
    assert body["card"]["state"] == "active" and body["services"]["payment"]["verdict"] == "allowed"

    # Temporary loss: payment now needs the holder's authorisation.
    response = holder.post("/api/v1/card/loss-report")
    assert response.status_code == 200
    body = response.json()
    assert body["card"]["state"] == "temporarily_lost" and body["card"]["formalisation_deadline"]
    payment = body["services"]["payment"]
    assert (payment["verdict"], payment["code"]) == ("needs_authorisation", "card.temporarily_lost")
    assert "本人授权" in payment["message"]

    # Authorise, list, withdraw.
    response = holder.post(
        "/api/v1/ecard/authorisations",
        {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 30},
    )
    assert response.status_code == 201, response.json()
    grant = response.json()
    assert grant["live"] and grant["purposes"] == ["payment"]
    assert [g["id"] for g in holder.get("/api/v1/ecard/authorisations").json()] == [grant["id"]]
    withdrawn = holder.delete(f"/api/v1/ecard/authorisations/{grant['id']}").json()
    assert not withdrawn["live"] and withdrawn["end_reason"] == "withdrawn"

    # Found it: lift.
    found = holder.post("/api/v1/card/loss-lift", {"identity_token": settings.IDENTITY_DEV_TOKEN})
    assert found.json()["card"]["state"] == "active"

    # Change the e-card password; the old one no longer authorises anything.
    assert (
        holder.post(
            "/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "730519"}
        ).status_code
        == 204
    )
    holder.post("/api/v1/card/loss-report")
    refused = holder.post(
        "/api/v1/ecard/authorisations",
        {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 5},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "ecard.password_wrong"

    # A notice arrives and is read.
    services.card_report_formal_loss(card=Card.objects.get(pk=card.pk), by=Actor.staff(clerk))
    Notice.objects.create(
        holder=card.holder,
        kind="card.loss_formalised",
        subject=str(card.pk),
        title="正式挂失",
        body="您的社保卡已正式挂失。",
    )
    page = holder.get("/api/v1/notices").json()
    assert page["count"] == 1 and not page["results"][0]["read"]
    notice_id = page["results"][0]["id"]
    assert holder.post(f"/api/v1/notices/{notice_id}/read").json()["read"]
    assert holder.get("/api/v1/notices").json()["results"][0]["read"]
