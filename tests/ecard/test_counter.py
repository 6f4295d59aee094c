"""The outlet's counter journeys, through the admin as a clerk or supervisor walks them: a walk-in's
first card, corrections of the data on file, the photo, pick-up certificates for every
replacement, the old card at collection, a death cancellation, and an e-card issued at the
counter for a family member with no smartphone. Each is refused to a role that may not do it,
after the role that may has done it."""

from __future__ import annotations

import datetime
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.models import Holder
from ecard import admin as ecard_admin
from ecard import services
from ecard.audit import Actor
from ecard.models import AuditEvent, Card, CardApplication, CardState, ECard, FamilyLink, PaymentAgreement
from tests.ecard.test_admin import AGENT, operate_url
from tests.support import DEATH_CERTIFICATE, make_id_number, years_ago

pytestmark = pytest.mark.django_db
OUTLET = "东城区社保卡服务网点"


def photo(name: str = "photo.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (358, 441), (220, 224, 230)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def walk_in_url() -> str:
    return reverse("admin:ecard_cardapplication_walk_in")


def walk_in(client, **fields):
    body = {
        "name": "赵  雪梅",
        "id_type": "resident_id",
        "id_number": make_id_number(datetime.date(1990, 6, 1)),
        "region": "11",
        "phone": "13900001111",
        "outlet": OUTLET,
        "channel": "outlet",
        "photo": photo(),
        **fields,
    }
    return client.post(walk_in_url(), body, follow=True)


def act(client, action: str, application: CardApplication):
    url = reverse("admin:ecard_cardapplication_changelist")
    return client.post(url, {"action": action, "_selected_action": [application.pk]}, follow=True)


class TestWalkIn:
    def test_a_clerk_takes_a_walk_ins_application_and_hands_over_the_card_it_made(self, staff_client, clerk):
        client = staff_client(clerk)
        assert walk_in_url() in client.get(reverse("admin:ecard_cardapplication_changelist")).content.decode()
        response = walk_in(client)
        assert "已受理" in response.content.decode()
        application = CardApplication.objects.get()
        assert application.state == "accepted" and application.account is None
        assert application.outlet == OUTLET and application.photo
        holder = application.holder
        assert holder.name == "赵雪梅" and holder.photo == application.photo  # the photo on file
        act(client, "start_production", application)
        act(client, "mark_ready", application)
        act(client, "mark_collected", application)
        application.refresh_from_db()
        card = application.new_card
        assert application.state == "collected" and card.received_at is not None
        client.post(operate_url(card, "enable"))
        card.refresh_from_db()
        assert card.state == CardState.ACTIVE and card.name_on_card == "赵雪梅"
        channels = set(AuditEvent.objects.filter(holder=holder).values_list("channel", flat=True))
        assert channels == {"outlet"}

    def test_a_child_is_taken_with_the_guardian_and_the_proof_staff_saw(self, staff_client, clerk):
        child = make_id_number(years_ago(6))
        parent = make_id_number(datetime.date(1988, 2, 2))
        client = staff_client(clerk)
        refused = walk_in(client, id_number=child)
        assert "监护人" in refused.content.decode()
        assert not CardApplication.objects.exists() and not Holder.objects.exists()  # nothing half-made
        walk_in(
            client,
            id_number=child,
            guardian_name="赵大海",
            guardian_id_type="resident_id",
            guardian_id_number=parent,
            guardian_proof="birth_certificate",
            guardian_proof_number="M110000123",
        )
        application = CardApplication.objects.get()
        assert application.holder.guardian.name == "赵大海"
        assert application.guardian_proof_number == "M110000123"

    def test_an_auditor_may_not_take_an_application(self, staff_client, clerk, auditor):
        assert staff_client(clerk).get(walk_in_url()).status_code == 200
        assert staff_client(auditor).get(walk_in_url()).status_code == 403
        assert walk_in(staff_client(auditor)).status_code == 403
        assert not CardApplication.objects.exists()


class TestCertificates:
    def test_a_counter_replacement_has_a_pickup_certificate_printed_from_the_card_page(
        self, staff_client, clerk, card, system, make_scanner
    ):
        services.card_report_formal_loss(card=card, by=system)
        client = staff_client(clerk)
        client.post(operate_url(card, "replace"), {"kind": "loss", "outlet": OUTLET})
        application = CardApplication.objects.get(card=card)
        assert application.kind == "replacement_loss" and application.state == "accepted"
        page = client.get(reverse("admin:ecard_card_change", args=[application.new_card.pk])).content.decode()
        url = reverse("staff-certificate", args=[application.public_id])
        assert url in page
        pdf = client.get(url)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        from codes.services import certificate_code

        hospital = make_scanner(
            organisation="北京协和医院", kind="medical", purposes=("payment", "certificate")
        )
        assert hospital.verdict(certificate_code(application=application))["result"] == "accepted"

    def test_an_online_renewals_certificate_is_printed_at_the_counter_too(
        self, staff_client, clerk, app_holder
    ):
        from tests.ecard.test_certificate import apply_for_replacement

        created = apply_for_replacement(app_holder, "replacement_damage")
        page = staff_client(clerk).get(reverse("admin:ecard_card_change", args=[app_holder.card.pk]))
        assert reverse("staff-certificate", args=[created["id"]]) in page.content.decode()

    def test_an_auditor_may_not_print_a_certificate(self, staff_client, clerk, auditor, card):
        application = services.application_replace_at_counter(
            card=card, kind="damage", outlet=OUTLET, by=Actor.staff(clerk)
        )
        url = reverse("staff-certificate", args=[application.public_id])
        assert staff_client(clerk).get(url).status_code == 200
        assert staff_client(auditor).get(url).status_code == 403


class TestCollection:
    def test_the_counter_records_the_old_card_handed_in_when_the_new_one_is_collected(
        self, staff_client, clerk, card
    ):
        application = services.application_replace_at_counter(
            card=card, kind="damage", outlet=OUTLET, by=Actor.staff(clerk)
        )
        new = application.new_card
        staff_client(clerk).post(operate_url(new, "receive"), {"old_card": "handed_in"})
        assert Card.objects.get(pk=new.pk).received_at is not None
        event = AuditEvent.objects.get(action="card.old_card_handed_in")
        assert event.card == card and event.data["new_card"] == new.number
        assert CardApplication.objects.get(pk=application.pk).state == "collected"

    def test_a_card_that_replaces_none_has_no_old_card_to_hand_in(self, staff_client, clerk, make_card):
        sealed = make_card(state="sealed", received=False)
        response = staff_client(clerk).post(
            operate_url(sealed, "receive"), {"old_card": "handed_in"}, follow=True
        )
        assert "没有需交回的原卡" in response.content.decode()
        assert Card.objects.get(pk=sealed.pk).received_at is None


class TestDeathCancellation:
    def test_a_death_is_recorded_with_its_certificate_and_ends_the_ecard_its_family_links_and_agreements(
        self, staff_client, supervisor, app_holder, other_app_holder, tmp_path
    ):
        from tests.ecard.services.test_payments import Provider

        Provider(tmp_path).sign_up(app_holder)
        invite = other_app_holder.post(
            "/api/v1/family",
            {
                "name": app_holder.card.holder.name,
                "id_number": app_holder.card.holder.id_number,
                "relationship": "parent",
            },
        )
        assert invite.status_code == 201, invite.json()
        card = app_holder.card
        client = staff_client(supervisor)
        refused = client.post(operate_url(card, "cancel"), {"reason": "deceased", **AGENT}, follow=True)
        assert "死亡证明" in refused.content.decode()
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE
        client.post(operate_url(card, "cancel"), {"reason": "deceased", **AGENT, **DEATH_CERTIFICATE})
        assert Card.objects.get(pk=card.pk).state == CardState.CANCELLED
        event = AuditEvent.objects.get(card=card, action="card.cancelled")
        assert event.data["certificate"] == {
            "number": DEATH_CERTIFICATE["certificate_number"],
            "issuer": DEATH_CERTIFICATE["certificate_issuer"],
        }
        ecard = app_holder.get("/api/v1/ecard").json()
        assert ecard["card"]["state"] == "cancelled"
        assert {answer["verdict"] for answer in ecard["services"].values()} == {"denied"}
        assert app_holder.post("/api/v1/codes", {"purpose": "identity"}).status_code == 409
        assert not PaymentAgreement.objects.filter(ended_at__isnull=True).exists()
        assert PaymentAgreement.objects.get().end_reason == "card_cancelled"
        assert set(FamilyLink.objects.values_list("state", flat=True)) == {"ended"}

    def test_a_clerk_may_not_cancel_for_death(self, staff_client, clerk, card):
        response = staff_client(clerk).post(
            operate_url(card, "cancel"), {"reason": "deceased", **AGENT, **DEATH_CERTIFICATE}
        )
        assert response.status_code == 403
        assert Card.objects.get(pk=card.pk).state == CardState.ACTIVE


class TestCorrections:
    def correct(self, client, card, **fields):
        body = {
            "name": "赵雪",
            "id_type": "resident_id",
            "id_number": card.holder.id_number,
            "outlet": OUTLET,
            "photo": photo(),
            **fields,
        }
        return client.post(operate_url(card, "correct"), body, follow=True)

    def test_a_supervisor_corrects_the_name_and_the_new_card_carries_it_the_old_keeps_its_own(
        self, staff_client, supervisor, clerk, app_holder
    ):
        card = app_holder.card
        before = card.holder.name
        assert self.correct(staff_client(clerk), card).status_code == 403  # a clerk may not
        assert Holder.objects.get(pk=card.holder_id).name == before
        self.correct(staff_client(supervisor), card)
        holder = Holder.objects.get(pk=card.holder_id)
        assert holder.name == "赵雪" and holder.photo
        old, new = Card.objects.get(pk=card.pk), Card.objects.get(replaces=card)
        assert old.name_on_card == before and new.name_on_card == "赵雪"
        assert new.replacement_kind == "data_change"
        event = AuditEvent.objects.get(action="holder.corrected")
        assert event.previous_name == before and event.data == {"fields": ["name"]}
        assert before not in str(event.data)
        assert app_holder.get("/api/v1/ecard").json()["holder"]["name_masked"] == "赵*"

    def test_a_corrected_id_number_may_not_be_another_holders(
        self, staff_client, supervisor, card, make_holder
    ):
        other = make_holder(name="钱七")
        response = self.correct(
            staff_client(supervisor), card, name=card.holder.name, id_number=other.id_number
        )
        assert "另一位持卡人" in response.content.decode()
        assert not Card.objects.filter(replaces=card).exists()

    def test_a_correction_that_changes_nothing_is_refused(self, staff_client, supervisor, card):
        response = self.correct(staff_client(supervisor), card, name=card.holder.name)
        assert "无需变更" in response.content.decode()
        assert not Card.objects.filter(replaces=card).exists()


class TestPhoto:
    def test_a_clerk_renews_the_photo_on_file_and_an_auditor_may_not(
        self, staff_client, clerk, auditor, card
    ):
        staff_client(clerk).post(operate_url(card, "photo"), {"photo": photo()})
        holder = Holder.objects.get(pk=card.holder_id)
        assert holder.photo and holder.photo_taken_at is not None
        assert AuditEvent.objects.filter(action="holder.photo_set", holder=holder).exists()
        assert not Card.objects.filter(replaces=card).exists()  # no new card for a photo alone
        assert staff_client(auditor).post(operate_url(card, "photo"), {"photo": photo()}).status_code == 403
        assert Holder.objects.get(pk=card.holder_id).photo == holder.photo

    def test_a_photo_that_is_not_one_is_refused(self, staff_client, clerk, card):
        bad = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
        response = staff_client(clerk).post(operate_url(card, "photo"), {"photo": bad}, follow=True)
        assert Holder.objects.get(pk=card.holder_id).photo == ""
        assert response.status_code == 200


class TestFamilyAtTheCounter:
    def enrol(self, client, card, presenter: Holder, **fields):
        body = {
            "presenter_id_type": "resident_id",
            "presenter_id_number": presenter.id_number,
            "relationship": "parent",
            "password": "624813",
            "identity_token": settings.IDENTITY_DEV_TOKEN,
            **fields,
        }
        return client.post(operate_url(card, "family_enrol"), body, follow=True)

    def test_an_elderly_holder_gets_an_ecard_at_the_counter_and_the_presenter_shows_it(
        self, staff_client, clerk, auditor, app_holder, make_card, make_holder, make_scanner
    ):
        elder = make_card(holder=make_holder(name="孙奶奶", born=datetime.date(1940, 1, 1)))
        assert self.enrol(staff_client(auditor), elder, app_holder.card.holder).status_code == 403
        assert not ECard.objects.filter(card=elder).exists()
        self.enrol(staff_client(clerk), elder, app_holder.card.holder)
        ecard = ECard.objects.get(card=elder)
        assert ecard.channel == "outlet"
        link = FamilyLink.objects.get(member=elder.holder)
        assert link.state == "active" and link.consent_channel == "outlet"
        shown = app_holder.post(f"/api/v1/codes?member={link.public_id}", {"purpose": "payment"})
        assert shown.status_code == 201, shown.json()
        pharmacy = make_scanner(organisation="同仁堂药店", kind="medical", purposes=("payment",))
        verdict = pharmacy.verdict(shown.json()["code"])
        assert verdict["result"] == "accepted" and verdict["holder"] == elder.holder.name_masked

    def test_without_a_passing_real_person_check_nothing_is_issued(
        self, staff_client, clerk, app_holder, make_card
    ):
        elder = make_card()
        response = self.enrol(staff_client(clerk), elder, app_holder.card.holder, identity_token="forged")
        assert "实人认证未通过" in response.content.decode()
        assert not ECard.objects.filter(card=elder).exists() and not FamilyLink.objects.exists()

    def test_a_presenter_without_an_ecard_is_not_found(self, staff_client, clerk, make_card, card):
        elder = make_card()
        response = self.enrol(staff_client(clerk), elder, card.holder)
        assert "代为出示人" in response.content.decode()
        assert not ECard.objects.filter(card=elder).exists()


# Who may do what at the counter: clerks the everyday operations, supervisors also cancellations
# and corrections of a name or ID number, auditors nothing but read.
SUPERVISORS_ONLY = {"cancel", "correct"}


@pytest.mark.parametrize("operation", sorted(ecard_admin.OPERATIONS))
def test_each_counter_operation_opens_for_the_roles_that_may_do_it_and_no_other(
    staff_client, clerk, supervisor, auditor, card, operation
):
    url = operate_url(card, operation)
    recorded = AuditEvent.objects.count()
    assert staff_client(supervisor).get(url).status_code == 200  # the operation is there
    allowed_to_clerk = operation not in SUPERVISORS_ONLY
    assert staff_client(clerk).get(url).status_code == (200 if allowed_to_clerk else 403)
    assert staff_client(auditor).get(url).status_code == 403
    assert staff_client(auditor).post(url, {}).status_code == 403
    if not allowed_to_clerk:
        assert staff_client(clerk).post(url, {}).status_code == 403
    page = staff_client(clerk).get(reverse("admin:ecard_card_change", args=[card.pk])).content.decode()
    assert (url in page) == allowed_to_clerk
    assert AuditEvent.objects.count() == recorded  # nobody refused did anything


class TestFollowedInTheApp:
    def test_a_counter_application_is_followed_by_its_holder_and_reached_by_no_other_account(
        self, app_holder, other_app_holder, clerk
    ):
        taken = services.application_replace_at_counter(
            card=app_holder.card, kind="damage", outlet=OUTLET, by=Actor.staff(clerk)
        )
        mine = app_holder.get("/api/v1/card-applications").json()
        assert [a["id"] for a in mine] == [str(taken.public_id)]
        certificate = f"/api/v1/card-applications/{taken.public_id}/certificate.pdf"
        assert app_holder.get(certificate).status_code == 200  # the endpoint is there for its holder
        # Another holder's account, knowing the id, reaches nothing of it.
        assert other_app_holder.get("/api/v1/card-applications").json() == []
        refused = other_app_holder.get(certificate)
        assert refused.status_code == 404 and refused.json()["code"] == "application.not_found"
        withdraw = other_app_holder.post(f"/api/v1/card-applications/{taken.public_id}/withdraw")
        assert withdraw.status_code == 404
        assert CardApplication.objects.get(pk=taken.pk).state == "accepted"
