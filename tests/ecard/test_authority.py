"""Who may act for whom is decided by ``ecard.authority``: the attackers' stories, each one
proving first that the way in exists."""

import datetime

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.services import holder_set_guardian
from ecard import services
from ecard.audit import Actor
from ecard.models import CardApplication, Notice
from plumbing.errors import DomainError
from tests.ecard.services.test_applications import new_card_fields
from tests.support import Holder_, bind, years_ago

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


def six_years_ago() -> datetime.date:
    return years_ago(6)


@pytest.fixture
def family(make_card, make_holder, system):
    """A father who is his daughter's guardian (recorded at an outlet), her bound e-card, and a
    stranger with an e-card of his own who has read her name and ID number somewhere."""
    father = Holder_(APIClient(), make_card(holder=make_holder(name="张伟")), "13800000001")
    child = make_holder(name="张小雨", born=six_years_ago())
    holder_set_guardian(holder=child, guardian=father.card.holder, proof="birth_certificate", by=system)
    child_card = make_card(holder=child, region="31")
    assert bind(father, child_card, ward=child.public_id).status_code == 201
    stranger = Holder_(APIClient(), make_card(holder=make_holder(name="王五")), "13800000002")
    return father, child, stranger


def apply_for(applicant, child, **override):
    fields = new_card_fields(
        name=child.name,
        id_number=child.id_number,
        region="11",
        phone="13900009999",
        guardian_proof="birth_certificate",
        guardian_proof_number="FORGED-0001",
        **override,
    )
    return applicant.api.post("/api/v1/card-applications", fields, format="multipart", **applicant.auth)


class TestAnApplicationNeverMakesAGuardian:
    def test_a_strangers_application_for_someone_elses_child_reaches_nothing_of_the_child(self, family):
        father, child, stranger = family
        # The way in exists: the application is taken (201) …
        response = apply_for(stranger, child)
        assert response.status_code == 201, response.json()
        # … and leaves the child's guardian where the outlet put him.
        child.refresh_from_db()
        assert child.guardian_id == father.card.holder_id
        assert stranger.get("/api/v1/wards").json() == []
        assert [w["id"] for w in father.get("/api/v1/wards").json()] == [str(child.public_id)]
        ward = f"?ward={child.public_id}"
        for url in (f"/api/v1/ecard{ward}", f"/api/v1/notices{ward}", f"/api/v1/ecard/usage{ward}"):
            assert stranger.get(url).status_code == 404, url
            assert father.get(url).status_code == 200, url
        assert stranger.post(f"/api/v1/codes{ward}", {"purpose": "identity"}).status_code == 404
        assert father.post(f"/api/v1/codes{ward}", {"purpose": "identity"}).status_code == 201
        # The stranger follows his application, which shows nothing of the child.
        [listed] = stranger.get("/api/v1/card-applications").json()
        assert listed["state"] == "submitted" and listed["new_card_number_masked"] is None

    def test_staff_who_check_the_proof_make_the_link_and_the_guardian_it_replaces_is_told(
        self, family, clerk, django_capture_on_commit_callbacks
    ):
        father, child, stranger = family
        assert apply_for(stranger, child).status_code == 201
        application = CardApplication.objects.get(holder=child)
        with django_capture_on_commit_callbacks(execute=True):
            services.application_advance(application=application, to="accepted", by=Actor.staff(clerk))
        child.refresh_from_db()
        assert child.guardian_id == stranger.card.holder_id
        assert father.get("/api/v1/wards").json() == []
        told = Notice.objects.get(holder=father.card.holder, kind="guardian.replaced")
        assert child.name not in told.body and "张*雨" in told.body

    def test_the_codes_the_guardian_replaced_still_holds_for_the_ward_stop_working(
        self, family, clerk, scanner, django_capture_on_commit_callbacks
    ):
        father, child, stranger = family
        shown = father.post(f"/api/v1/codes?ward={child.public_id}", {"purpose": "identity"}).json()["code"]
        assert scanner.verdict(shown)["result"] == "accepted"  # the way in: his code for her works
        assert apply_for(stranger, child).status_code == 201
        application = CardApplication.objects.get(holder=child)
        with django_capture_on_commit_callbacks(execute=True):
            services.application_advance(application=application, to="accepted", by=Actor.staff(clerk))
        assert scanner.verdict(shown)["code"] == "code.revoked"

    def test_a_card_factorys_progress_file_cannot_accept_a_guardians_claim(self, family):
        _, child, stranger = family
        assert apply_for(stranger, child).status_code == 201
        application = CardApplication.objects.get(holder=child)
        with pytest.raises(DomainError) as refused:
            services.application_advance(application=application, to="accepted", by=Actor.system("progress"))
        assert refused.value.code == "application.proof_unchecked"

    def test_staff_refusing_the_proof_leave_the_child_with_the_guardian_they_had(self, family, clerk):
        father, child, stranger = family
        assert apply_for(stranger, child).status_code == 201
        application = CardApplication.objects.get(holder=child)
        services.application_advance(
            application=application, to="rejected", reason="关系证明不符", by=Actor.staff(clerk)
        )
        child.refresh_from_db()
        assert child.guardian_id == father.card.holder_id
        assert stranger.get(f"/api/v1/ecard?ward={child.public_id}").status_code == 404
        [listed] = stranger.get("/api/v1/card-applications").json()
        assert listed["state"] == "rejected"

    def test_a_third_generation_province_issues_no_e_card_on_an_unchecked_claim(
        self, family, django_capture_on_commit_callbacks
    ):
        from ecard.models import ECard, RegionSetting

        _, child, stranger = family
        RegionSetting.objects.update_or_create(region="11", defaults={"third_generation": True})
        response = apply_for(stranger, child, ecard_password="135790")
        assert response.status_code == 201, response.json()
        assert not ECard.objects.filter(card__holder=child, card__region="11").exists()

    def test_a_holder_can_never_make_themself_a_guardian(self, family):
        _, child, stranger = family
        with pytest.raises(DomainError) as refused:
            holder_set_guardian(
                holder=child,
                guardian=stranger.card.holder,
                proof="birth_certificate",
                by=Actor.holder(None),
            )
        assert refused.value.code == "holder.guardian_staff_only"
        assert settings.HOLDER_GUARDIAN_AGE == 16


class TestAScannersTokenWithOddClaims:
    @pytest.mark.parametrize(
        "claims",
        [{"exp": "9999999999"}, {"iat": "0"}, {"exp": 1.5e300}, {"jti": 7}, {"iat": True}],
        ids=["exp-string", "iat-string", "exp-huge", "jti-number", "iat-bool"],
    )
    @pytest.mark.parametrize("route", ["verify", "keys-and-revocations"])
    def test_gets_the_json_401_never_a_500(self, scanner, app_holder, claims, route):
        from tests.support import issue_code

        assert scanner.verdict(issue_code(app_holder, "identity"))["result"] == "accepted"  # the way in
        token = scanner.jwt(**claims)
        if route == "verify":
            response = scanner.verify(issue_code(app_holder, "identity"), token=token)
        else:
            response = scanner.api.get("/api/v1/scanner/revocations", **scanner.auth(token))
        assert response.status_code == 401, response.content
        assert response.json()["code"].startswith("scanner.")
