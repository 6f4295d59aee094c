"""亲情账户: a holder invites an adult relative, who consents and can end it at any time."""

import datetime
import time
from urllib.parse import quote

import pytest
from django.utils import timezone

from codes import verifier
from ecard import services
from ecard.models import ECardChannel, FamilyLink
from tests.codes.test_verifier import offline_gate
from tests.support import DEATH_CERTIFICATE, ECARD_PASSWORD, issue_code

pytestmark = [pytest.mark.django_db, pytest.mark.dates]


@pytest.fixture
def relative(make_card, make_holder, system):
    """An adult with a card and an e-card (no app account needed: outlet consent is possible)."""

    def make(name="王五", born=datetime.date(1960, 5, 1)):
        card = make_card(holder=make_holder(name=name, born=born))
        services.ecard_issue(card=card, channel=ECardChannel.NATIONAL_APP, password="135790", by=system)
        return card.holder

    return make


def invite(presenter, member, relationship="parent"):
    return presenter.post(
        "/api/v1/family", {"name": member.name, "id_number": member.id_number, "relationship": relationship}
    )


class TestInvitationAndConsent:
    def test_the_member_accepts_in_their_own_account_and_both_sides_see_the_link(
        self, app_holder, other_app_holder
    ):
        member = other_app_holder.card.holder
        invited = invite(app_holder, member)
        assert invited.status_code == 201, invited.json()
        link = invited.json()
        assert link["state"] == "invited" and link["member_name_masked"] == member.name_masked

        waiting = other_app_holder.get("/api/v1/family/invitations").json()
        assert [w["id"] for w in waiting] == [link["id"]]
        assert waiting[0]["presenter_name_masked"] == app_holder.card.holder.name_masked
        notice = other_app_holder.get("/api/v1/notices").json()["results"][0]
        assert notice["kind"] == "family.invited" and app_holder.card.holder.name_masked in notice["body"]

        accepted = other_app_holder.post(
            f"/api/v1/family/invitations/{link['id']}/accept", {"password": ECARD_PASSWORD}
        )
        assert accepted.status_code == 200, accepted.json()
        assert accepted.json()["state"] == "active"
        assert app_holder.get("/api/v1/family").json()[0]["state"] == "active"
        presenters = other_app_holder.get("/api/v1/family/presenters").json()
        assert [p["id"] for p in presenters] == [link["id"]]

    def test_a_wrong_e_card_password_does_not_consent(self, app_holder, other_app_holder):
        link = invite(app_holder, other_app_holder.card.holder).json()
        refused = other_app_holder.post(
            f"/api/v1/family/invitations/{link['id']}/accept", {"password": "000000"}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "ecard.password_wrong"
        assert FamilyLink.objects.get(public_id=link["id"]).state == "invited"

    def test_an_expired_invitation_cannot_be_accepted(self, app_holder, other_app_holder, settings):
        link = invite(app_holder, other_app_holder.card.holder).json()
        lapsed = FamilyLink.objects.get(public_id=link["id"])
        assert lapsed.expires_at - lapsed.invited_at == datetime.timedelta(
            days=settings.FAMILY_INVITATION_DAYS
        )
        FamilyLink.objects.filter(pk=lapsed.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        assert other_app_holder.get("/api/v1/family/invitations").json() == []
        refused = other_app_holder.post(
            f"/api/v1/family/invitations/{link['id']}/accept", {"password": ECARD_PASSWORD}
        )
        assert refused.status_code == 409 and refused.json()["code"] == "family.invitation_expired"
        assert app_holder.get("/api/v1/family").json()[0]["state"] == "expired"
        # …and the presenter may invite the same person again.
        assert invite(app_holder, other_app_holder.card.holder).status_code == 201

    def test_the_sixth_member_is_refused_open_invitations_included(self, app_holder, relative, settings):
        for i in range(settings.FAMILY_MAX_MEMBERS):
            assert invite(app_holder, relative(born=datetime.date(1950 + i, 1, 1))).status_code == 201
        refused = invite(app_holder, relative(born=datetime.date(1970, 1, 1)))
        assert refused.status_code == 409 and refused.json()["code"] == "family.limit_reached"

    def test_a_full_family_gets_the_same_answer_for_a_stranger_and_for_a_card_holder(
        self, app_holder, relative, make_holder, settings
    ):
        for i in range(settings.FAMILY_MAX_MEMBERS):
            assert invite(app_holder, relative(born=datetime.date(1950 + i, 1, 1))).status_code == 201
        holder = relative(name="钱七", born=datetime.date(1971, 1, 1))
        nobody = make_holder(name="孙八", born=datetime.date(1972, 1, 1))  # no e-card
        nobody.id_number = nobody.id_number[:-4] + "0000"  # nor a real ID number
        answers = {
            (r.status_code, r.json()["code"])
            for r in (invite(app_holder, holder), invite(app_holder, nobody))
        }
        assert answers == {(409, "family.limit_reached")}

    def test_a_member_can_be_in_several_families(self, app_holder, other_app_holder, relative):
        member = relative()
        assert invite(app_holder, member).status_code == 201
        assert invite(other_app_holder, member).status_code == 201

    def test_the_same_person_twice_is_refused(self, app_holder, relative):
        member = relative()
        invite(app_holder, member)
        refused = invite(app_holder, member)
        assert refused.status_code == 409 and refused.json()["code"] == "family.already_linked"

    def test_staff_record_the_consent_of_a_member_with_no_smartphone_after_a_real_person_check(
        self, app_holder, relative, clerk, settings
    ):
        from ecard.audit import Actor

        link = FamilyLink.objects.get(public_id=invite(app_holder, relative()).json()["id"])
        with pytest.raises(Exception) as refused:
            services.family_consent_at_outlet(link=link, identity_token="forged", by=Actor.staff(clerk))
        assert getattr(refused.value, "code", "").startswith("identity.")
        services.family_consent_at_outlet(
            link=link, identity_token=settings.IDENTITY_DEV_TOKEN, by=Actor.staff(clerk)
        )
        link.refresh_from_db()
        assert link.state == "active" and link.consent_channel == "outlet"


class TestWhoMayInvite:
    def test_a_person_not_named_exactly_as_on_their_id_is_not_found_like_a_stranger(
        self, app_holder, relative
    ):
        member = relative()
        wrong_name = app_holder.post(
            "/api/v1/family", {"name": "王六", "id_number": member.id_number, "relationship": "parent"}
        )
        nobody = app_holder.post(
            "/api/v1/family", {"name": "王五", "id_number": "11010519491231002X", "relationship": "parent"}
        )
        assert wrong_name.status_code == nobody.status_code == 404
        assert wrong_name.json() == nobody.json()
        assert nobody.json()["code"] == "family.member_not_found"

    def test_a_child_under_the_guardian_age_is_refused_in_a_strangers_words(
        self, app_holder, make_card, make_holder, system
    ):
        from accounts.models import GuardianProof
        from accounts.services import holder_set_guardian

        child = make_holder(name="王小五", born=timezone.localdate() - datetime.timedelta(days=365 * 10))
        holder_set_guardian(
            holder=child, guardian=make_holder(name="王五"), proof=GuardianProof.BIRTH_CERTIFICATE, by=system
        )
        services.ecard_issue(
            card=make_card(holder=child), channel=ECardChannel.NATIONAL_APP, password="135790", by=system
        )
        refused = invite(app_holder, child)
        # A ward, not a family member; and the answer must not say that a child with this name
        # and ID number holds a card.
        assert refused.status_code == 404 and refused.json()["code"] == "family.member_not_found"

    def test_nobody_invites_themselves(self, app_holder):
        refused = invite(app_holder, app_holder.card.holder)
        assert refused.status_code == 400 and refused.json()["code"] == "family.oneself"


class TestEachSideOwnsItsLinks:
    def test_holder_a_can_neither_see_nor_end_holder_bs_links(self, app_holder, other_app_holder, relative):
        own = invite(app_holder, relative()).json()
        assert app_holder.delete(f"/api/v1/family/{own['id']}").status_code == 204  # the endpoint works
        others = invite(other_app_holder, relative(name="赵六")).json()
        assert app_holder.get("/api/v1/family").json() == []
        refused = app_holder.delete(f"/api/v1/family/{others['id']}")
        assert refused.status_code == 404 and refused.json()["code"] == "family.not_found"
        assert app_holder.delete(f"/api/v1/family/presenters/{others['id']}").status_code == 404
        accept = app_holder.post(
            f"/api/v1/family/invitations/{others['id']}/accept", {"password": ECARD_PASSWORD}
        )
        assert accept.status_code == 404
        assert FamilyLink.objects.get(public_id=others["id"]).state == "invited"

    def test_the_member_ends_consent_at_once_and_the_presenter_is_told(self, app_holder, other_app_holder):
        link = invite(app_holder, other_app_holder.card.holder).json()
        other_app_holder.post(f"/api/v1/family/invitations/{link['id']}/accept", {"password": ECARD_PASSWORD})
        assert other_app_holder.delete(f"/api/v1/family/presenters/{link['id']}").status_code == 204
        assert app_holder.get("/api/v1/family").json() == []
        assert other_app_holder.get("/api/v1/family/presenters").json() == []
        kinds = [n["kind"] for n in app_holder.get("/api/v1/notices").json()["results"]]
        assert "family.ended" in kinds

    def test_no_answer_shows_a_full_name_or_id_number(self, app_holder, other_app_holder):
        member = other_app_holder.card.holder
        link = invite(app_holder, member).json()
        other_app_holder.post(f"/api/v1/family/invitations/{link['id']}/accept", {"password": ECARD_PASSWORD})
        presenter = app_holder.card.holder
        bodies = [
            app_holder.get("/api/v1/family").content.decode(),
            other_app_holder.get("/api/v1/family/presenters").content.decode(),
            str(link),
        ]
        for body in bodies:
            for secret in (member.id_number, member.name, presenter.id_number, presenter.name):
                assert secret not in body


@pytest.fixture
def family(app_holder, other_app_holder):
    """app_holder (the presenter) may show other_app_holder's codes: the link's id."""
    link = invite(app_holder, other_app_holder.card.holder).json()
    accepted = other_app_holder.post(
        f"/api/v1/family/invitations/{link['id']}/accept", {"password": ECARD_PASSWORD}
    )
    assert accepted.status_code == 200
    return link["id"]


def member_code(presenter, link_id, purpose="payment"):
    response = presenter.post(f"/api/v1/codes?member={link_id}", {"purpose": purpose})
    assert response.status_code == 201, response.json()
    return response.json()["code"]


class TestShowingAMembersCode:
    def test_a_scanner_sees_the_members_masked_name_and_who_showed_it(
        self, app_holder, other_app_holder, family, scanner, django_capture_on_commit_callbacks
    ):
        text = member_code(app_holder, family)
        code = verifier.parse(text)
        assert code.presenter and code.ecard == other_app_holder.card.ecard.reference
        with django_capture_on_commit_callbacks(execute=True):
            verdict = scanner.verdict(text)
            assert scanner.verdict(member_code(app_holder, family, "culture"))["result"] == "accepted"
        assert verdict["result"] == "accepted"
        assert verdict["holder"] == other_app_holder.card.holder.name_masked
        assert verdict["presented_by"] == app_holder.card.holder.name_masked
        # The holder's own code says nobody else showed it.
        assert scanner.verdict(issue_code(other_app_holder))["presented_by"] is None
        # The member sees every family-shown scan, with who showed it, and hears once a day.
        usage = other_app_holder.get("/api/v1/ecard/usage").json()["results"]
        assert [u["presented_by"] for u in usage].count(app_holder.card.holder.name_masked) == 2
        kinds = [n["kind"] for n in other_app_holder.get("/api/v1/notices").json()["results"]]
        assert kinds.count("family.code_used") == 1

    def test_the_code_image_is_drawn_for_the_presenter(self, app_holder, family):
        text = member_code(app_holder, family)
        image = app_holder.get(f"/api/v1/codes/{quote(text, safe='')}.svg?member={family}")
        assert image.status_code == 200 and image["Content-Type"] == "image/svg+xml"

    def test_a_transit_code_is_never_shown_for_a_member(self, app_holder, family):
        refused = app_holder.post(f"/api/v1/codes?member={family}", {"purpose": "transit"})
        assert refused.status_code == 403 and refused.json()["code"] == "family.purpose_not_allowed"

    def test_another_holder_cannot_show_codes_through_someone_elses_link(
        self, family, make_card, make_holder
    ):
        from rest_framework.test import APIClient

        from tests.support import Holder_

        stranger = Holder_(APIClient(), make_card(holder=make_holder(name="钱七")), "13800000009")
        assert stranger.post("/api/v1/codes", {"purpose": "payment"}).status_code == 201  # the endpoint works
        refused = stranger.post(f"/api/v1/codes?member={family}", {"purpose": "payment"})
        assert refused.status_code == 404 and refused.json()["code"] == "family.not_found"

    def test_the_member_ending_consent_refuses_a_code_already_issued_online_and_offline(
        self, app_holder, other_app_holder, family, scanner
    ):
        text = member_code(app_holder, family, "culture")
        own = issue_code(other_app_holder, "culture")
        time.sleep(1.05)  # revocations count whole seconds
        assert other_app_holder.delete(f"/api/v1/family/presenters/{family}").status_code == 204
        assert scanner.verdict(text)["code"] == "family.consent_ended"
        gate, _ = offline_gate(scanner)
        assert gate.verify(text).code == "family.consent_ended"
        assert gate.verify(own).accepted  # the member's own codes are untouched
        assert app_holder.post(f"/api/v1/codes?member={family}", {"purpose": "payment"}).status_code == 404

    @pytest.mark.parametrize("reason", ["deceased", "emigrated"])
    def test_the_members_card_cancelled_ends_the_link_and_the_presenter_is_told(
        self, app_holder, other_app_holder, family, scanner, clerk, reason
    ):
        from accounts.actors import Agent
        from ecard.audit import Actor
        from ecard.models import Card

        member_card = Card.objects.get(pk=other_app_holder.card.pk)
        by = Actor.staff(clerk, agent=Agent("王小五", "resident_id", "110105197001010011"))
        document = DEATH_CERTIFICATE if reason == "deceased" else {}
        services.card_cancel(card=member_card, reason=reason, by=by, **document)
        link = FamilyLink.objects.get(public_id=family)
        assert link.state == "ended" and link.end_reason == "member_card_cancelled"
        assert app_holder.get("/api/v1/family").json() == []  # ended links are not listed
        assert app_holder.post(f"/api/v1/codes?member={family}", {"purpose": "identity"}).status_code == 404
        told = app_holder.get("/api/v1/notices").json()["results"][0]
        assert told["kind"] == "family.ended" and other_app_holder.card.holder.name_masked in told["body"]

    def test_the_presenters_last_card_cancelled_ends_the_links_they_present_and_the_member_is_told(
        self, app_holder, other_app_holder, family, system
    ):
        services.card_cancel(card=app_holder.card, reason="emigrated", by=system)
        link = FamilyLink.objects.get(public_id=family)
        assert link.state == "ended" and link.end_reason == "presenter_card_cancelled"
        told = other_app_holder.get("/api/v1/notices").json()["results"][0]
        assert told["kind"] == "family.ended" and app_holder.card.holder.name_masked in told["body"]

    def test_the_members_lost_card_refuses_the_presenters_code_and_only_the_member_can_authorise(
        self, app_holder, other_app_holder, family, scanner, django_capture_on_commit_callbacks
    ):
        text = member_code(app_holder, family)
        assert other_app_holder.post("/api/v1/card/loss-report").status_code == 200
        assert scanner.verdict(text)["code"] == "card.temporarily_lost"
        refused = app_holder.post(f"/api/v1/codes?member={family}", {"purpose": "payment"})
        assert refused.status_code == 409 and refused.json()["code"] == "authorisation.required"
        # The presenter has no way to authorise for the member…
        assert (
            app_holder.post(
                f"/api/v1/ecard/authorisations?member={family}",
                {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 30},
            ).status_code
            == 400
        )
        # …the member does, and then the presenter's code works again.
        with django_capture_on_commit_callbacks(execute=True):
            granted = other_app_holder.post(
                "/api/v1/ecard/authorisations",
                {"password": ECARD_PASSWORD, "purposes": ["payment"], "minutes": 30},
            )
        assert granted.status_code == 201
        verdict = scanner.verdict(member_code(app_holder, family))
        assert verdict["result"] == "accepted" and verdict["authorised_by_holder"] is True, verdict

    def test_the_members_password_change_refuses_the_presenters_codes(
        self, app_holder, other_app_holder, family, scanner
    ):
        text = member_code(app_holder, family, "identity")
        time.sleep(1.05)
        changed = other_app_holder.post(
            "/api/v1/ecard/password", {"old_password": ECARD_PASSWORD, "new_password": "975310"}
        )
        assert changed.status_code == 204
        assert scanner.verdict(text)["code"] == "code.revoked"

    def test_the_offline_verifier_shows_the_family_flag(self, app_holder, family, scanner):
        gate, _ = offline_gate(scanner)
        result = gate.verify(member_code(app_holder, family, "identity"))
        assert result.accepted and result.parsed.presenter is not None


class TestAtTheOutlet:
    def test_a_clerk_records_consent_with_the_member_present_and_a_forged_check_is_refused(
        self, app_holder, relative, clerk, auditor, staff_client, settings
    ):
        from django.urls import reverse

        link = FamilyLink.objects.get(public_id=invite(app_holder, relative()).json()["id"])
        url = reverse("admin:ecard_familylink_changelist")
        action = {"action": "record_consent", "_selected_action": [link.pk]}
        client = staff_client(clerk)
        page = client.get(url).content.decode()
        assert link.member.name_masked in page and link.member.name not in page
        assert link.member.id_number not in page
        client.post(url, {**action, "identity_token": "forged"}, follow=True)
        link.refresh_from_db()
        assert link.state == "invited"
        client.post(url, {**action, "identity_token": settings.IDENTITY_DEV_TOKEN}, follow=True)
        link.refresh_from_db()
        assert link.state == "active" and link.consent_channel == "outlet"
        # An auditor sees links but records nothing.
        staff_client(auditor).post(url, {"action": "end_link", "_selected_action": [link.pk]})
        link.refresh_from_db()
        assert link.state == "active"
