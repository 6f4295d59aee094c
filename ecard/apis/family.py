"""亲情账户 in the holders' API: the presenter's side (/family) and the member's
(/family/invitations, /family/presenters). Adults act for themselves here: no ``?ward=``.

Neither side ever sees the other's full name or ID number: masked names only.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from plumbing.api import IDEMPOTENCY_HEADER, SECRET_THROTTLES, SixDigits, StrictSerializer, errors, idempotent

from .. import selectors, services
from ..models import FamilyRelationship
from .holders import READ_ERRORS, WRITE_ERRORS, HolderApi

# What a person is told a link is: an invitation past its time reads as expired.
SHOWN_STATES = ["invited", "active", "ended", "expired"]


def family_schema(*, write: bool, **kwargs):
    return extend_schema(
        parameters=[IDEMPOTENCY_HEADER] if write else [],
        responses={**kwargs.pop("responses", {}), **errors(*(WRITE_ERRORS if write else READ_ERRORS))},
        tags=["family"],
        **kwargs,
    )


class LinkOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    relationship = serializers.ChoiceField(choices=FamilyRelationship.values)
    state = serializers.ChoiceField(source="shown_state", choices=SHOWN_STATES)
    invited_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="until when the invitation may be accepted")
    consented_at = serializers.DateTimeField(allow_null=True)


class MemberOut(LinkOut):
    """A link as its presenter sees it."""

    member_name_masked = serializers.CharField(source="member.name_masked")


class PresenterOut(LinkOut):
    """A link as its member sees it: who may show (or asks to show) the member's codes."""

    presenter_name_masked = serializers.CharField(source="presenter.name_masked")


class FamilyApi(HolderApi):
    """Always the signed-in account's own holder."""

    query_parameters = frozenset()

    def ward(self) -> None:
        return None


class FamilyListApi(FamilyApi):
    def get_throttles(self):
        # An invitation names a person: no guessing at scale. Reading one's own list is no guess.
        return [t() for t in SECRET_THROTTLES] if self.request.method == "POST" else []

    class InviteIn(StrictSerializer):
        name = serializers.CharField(max_length=100)
        id_number = serializers.CharField(max_length=32)
        relationship = serializers.ChoiceField(choices=FamilyRelationship.values)

    @family_schema(write=False, operation_id="family_list", responses={200: MemberOut(many=True)})
    def get(self, request):
        return Response(MemberOut(selectors.family_links(presenter=self.holder()), many=True).data)

    @family_schema(
        write=True,
        operation_id="family_invite",
        request=InviteIn,
        responses={201: MemberOut},
        description="Invite an adult relative who has an e-card, named as on their ID. They consent "
        "in their own account (or at an outlet) within FAMILY_INVITATION_DAYS; at most "
        "FAMILY_MAX_MEMBERS members, open invitations included.",
    )
    @idempotent
    def post(self, request):
        data = self.InviteIn(data=request.data)
        data.is_valid(raise_exception=True)
        link = services.family_invite(presenter=self.holder(), by=self.actor(), **data.validated_data)
        return Response(MemberOut(link).data, status=status.HTTP_201_CREATED)


class FamilyDetailApi(FamilyApi):
    @family_schema(
        write=True,
        operation_id="family_end",
        responses={204: None},
        description="End the link (or withdraw the invitation) at once.",
    )
    @idempotent
    def delete(self, request, link_id):
        link = selectors.family_link_get(presenter=self.holder(), public_id=link_id)
        services.family_end(link=link, by=self.actor(), reason="presenter_ended")
        return Response(status=status.HTTP_204_NO_CONTENT)


class FamilyInvitationListApi(FamilyApi):
    @family_schema(
        write=False, operation_id="family_invitation_list", responses={200: PresenterOut(many=True)}
    )
    def get(self, request):
        return Response(PresenterOut(selectors.family_invitations(member=self.holder()), many=True).data)


class FamilyInvitationAcceptApi(FamilyApi):
    throttle_classes = SECRET_THROTTLES

    class AcceptIn(StrictSerializer):
        password = SixDigits(help_text="the member's own e-card password")

    @family_schema(
        write=True,
        operation_id="family_invitation_accept",
        request=AcceptIn,
        responses={200: PresenterOut},
        description="The member consents, with their e-card password: the presenter may show the "
        "member's identity, culture and payment codes until either ends the link.",
    )
    @idempotent
    def post(self, request, link_id):
        data = self.AcceptIn(data=request.data)
        data.is_valid(raise_exception=True)
        member = self.holder()
        link = selectors.family_invitation_get(member=member, public_id=link_id)
        link = services.family_accept(
            link=link, member=member, password=data.validated_data["password"], by=self.actor()
        )
        return Response(PresenterOut(link).data)


class FamilyPresenterListApi(FamilyApi):
    @family_schema(
        write=False, operation_id="family_presenter_list", responses={200: PresenterOut(many=True)}
    )
    def get(self, request):
        return Response(PresenterOut(selectors.family_presenters(member=self.holder()), many=True).data)


class FamilyPresenterDetailApi(FamilyApi):
    @family_schema(
        write=True,
        operation_id="family_presenter_end",
        responses={204: None},
        description="The member ends a presenter's consent (or declines an invitation) at once.",
    )
    @idempotent
    def delete(self, request, link_id):
        link = selectors.family_presenter_get(member=self.holder(), public_id=link_id)
        services.family_end(link=link, by=self.actor(), reason="member_ended")
        return Response(status=status.HTTP_204_NO_CONTENT)
