"""The holders' API (/api/v1/): what every holder endpoint shares, the e-card itself,
authorisations, wards and notices.

Views parse and shape; the services decide. A holder reaches only their own card or a
ward's (``?ward=<id>``); anything else is 404 (``ecard.authority`` decides who reaches whom).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from plumbing.api import (
    IDEMPOTENCY_HEADER,
    PAGE_PARAMETERS,
    SECRET_THROTTLES,
    Pages,
    SixDigits,
    StrictSerializer,
    errors,
    idempotent,
    page_of,
)
from plumbing.views import ApiView

from .. import authority, selectors, services
from ..audit import Actor
from ..matrix import Answer, Purpose, Verdict, card_services
from ..models import (
    CardState,
    Channel,
    ECard,
    ECardChannel,
)

WARD = OpenApiParameter(
    "ward",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    required=False,
    description="act for this ward (id from /api/v1/wards)",
)
READ_ERRORS = (400, 401, 404, 429)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 429)


def holder_schema(*, request=None, responses=None, write=True, parameters=(), **kwargs):
    parameters = [WARD, IDEMPOTENCY_HEADER, *parameters] if write else [WARD, *parameters]
    statuses = WRITE_ERRORS if write else READ_ERRORS
    return extend_schema(
        request=request,
        responses={**(responses or {}), **errors(*statuses)},
        parameters=parameters,
        **kwargs,
    )


# --------------------------------------------------------------------------- output shapes


class VerdictOut(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.values)
    code = serializers.CharField(allow_null=True)
    message = serializers.CharField(
        allow_null=True, help_text="why not, and what to do, in the request's language (null when allowed)"
    )
    message_en = serializers.CharField(allow_null=True, help_text="the same in English")


class ServicesOut(serializers.Serializer):
    # One verdict per purpose, the fields made from Purpose: a new purpose is here (and in the
    # schema) without a line written for it.
    def get_fields(self):
        return {purpose: VerdictOut() for purpose in Purpose.values}


class ReplacementOut(serializers.Serializer):
    number_masked = serializers.CharField()
    kind = serializers.CharField()
    state = serializers.ChoiceField(choices=CardState.values)
    ready_on = serializers.DateField(allow_null=True)
    ready_on_provisional = serializers.BooleanField(
        help_text="counted over a year whose holidays are not published yet: may move"
    )
    received = serializers.BooleanField()


class CardOut(serializers.Serializer):
    number_masked = serializers.CharField()
    region = serializers.CharField(help_text="the issuing province (its code)")
    state = serializers.ChoiceField(choices=CardState.values)
    state_text = serializers.CharField()
    valid_until = serializers.DateField()
    renewal_open = serializers.BooleanField()
    received = serializers.BooleanField()
    pin_locked = serializers.BooleanField()
    formalisation_deadline = serializers.DateTimeField(allow_null=True)
    deadline_provisional = serializers.BooleanField(
        help_text="counted over a year whose holidays are not published yet: may move"
    )
    replacement = ReplacementOut(allow_null=True)


class HolderOut(serializers.Serializer):
    name_masked = serializers.CharField()
    id_number_masked = serializers.CharField()


class ECardInfoOut(serializers.Serializer):
    channel = serializers.CharField()
    issued_at = serializers.DateTimeField()
    transit_payment_linked = serializers.BooleanField()


class HolderCardOut(serializers.Serializer):
    number_masked = serializers.CharField()
    region = serializers.CharField()
    state = serializers.ChoiceField(choices=CardState.values)
    state_text = serializers.CharField()
    received = serializers.BooleanField()
    in_production = serializers.BooleanField()
    current = serializers.BooleanField(help_text="the card the e-card and its codes are on now")
    services = ServicesOut()


class ECardOut(serializers.Serializer):
    holder = HolderOut()
    ecard = ECardInfoOut()
    card = CardOut()
    services = ServicesOut()
    cards = HolderCardOut(
        many=True,
        help_text="every card of the holder not cancelled (a new one being made, one in another province)",
    )


def verdict_body(answer: Answer) -> dict:
    """A service's verdict as the holder reads it: the reason's code, and its message (the
    catalogue's, which says what to do: unlock at an outlet, link a payment method …)."""
    refusal = answer.refusal() if answer.code else None
    return {
        "verdict": answer.verdict,
        "code": answer.code,
        "message": refusal.message if refusal else None,
        "message_en": refusal.message_en if refusal else None,
    }


def ecard_body(ecard: ECard) -> dict:
    card = ecard.card
    services = {purpose: verdict_body(answer) for purpose, answer in card_services(card).items()}
    replacement = selectors.replacement_get(card=card)
    return {
        "holder": {
            "name_masked": card.holder.name_masked,
            "id_number_masked": card.holder.id_number_masked,
        },
        "ecard": {
            "channel": ecard.channel,
            "issued_at": ecard.issued_at,
            "transit_payment_linked": bool(ecard.transit_payment_method),
        },
        "card": {
            "number_masked": card.number_masked,
            "region": card.region,
            "state": card.state,
            "state_text": card.get_state_display(),
            "valid_until": card.valid_until,
            "renewal_open": card.renewal_open() and card.state != CardState.CANCELLED,
            "received": card.is_received,
            "pin_locked": card.pin_locked,
            "formalisation_deadline": card.formalisation_deadline,
            "deadline_provisional": card.deadline_provisional,
            "replacement": replacement
            and {
                "number_masked": replacement.number_masked,
                "kind": replacement.replacement_kind,
                "state": replacement.state,
                "ready_on": replacement.ready_on,
                "ready_on_provisional": replacement.ready_on_provisional,
                "received": replacement.is_received,
            },
        },
        "services": services,
        "cards": [
            {
                "number_masked": other.number_masked,
                "region": other.region,
                "state": other.state,
                "state_text": other.get_state_display(),
                "received": other.is_received,
                "in_production": other.in_production,
                "current": other.pk == card.pk,
                "services": services
                if other.pk == card.pk
                else {p: verdict_body(a) for p, a in card_services(other).items()},
            }
            for other in selectors.holder_cards(holder=card.holder)
        ],
    }


def ecard_response(ecard: ECard, status_code: int = 200) -> Response:
    ecard = ECard.objects.select_related("card__holder").get(pk=ecard.pk)
    return Response(ECardOut(ecard_body(ecard)).data, status=status_code)


class HolderApi(ApiView):
    """Base: the request's holder (own or ward), their e-card, and who is acting."""

    query_parameters = frozenset({"ward"})

    def ward(self) -> str | None:
        return self.request.query_params.get("ward")

    def holder(self):
        return authority.holder_for(self.request.user, ward=self.ward())

    def ecard(self) -> ECard:
        return selectors.ecard_get(holder=self.holder())

    def actor(self) -> Actor:
        channel = self.request.headers.get("X-Client-Channel", Channel.APP)
        if channel not in (Channel.APP, Channel.MINI_PROGRAM):
            channel = Channel.APP
        return Actor.holder(self.request.user, channel)


class NoBody(StrictSerializer):
    pass


# --------------------------------------------------------------------------- e-card


class ECardApi(HolderApi):
    @holder_schema(operation_id="ecard_get", responses={200: ECardOut}, write=False)
    def get(self, request):
        return ecard_response(self.ecard())


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 512,
        "example": settings.IDENTITY_DEV_TOKEN,
        "description": "The real-person check's token from the provider's SDK on the phone "
        "(face match, within IDENTITY_CHECK_MAX_AGE_SECONDS). The development provider "
        f"accepts {settings.IDENTITY_DEV_TOKEN!r}.",
    }
)
class IdentityTokenField(serializers.CharField):
    pass


class CardNamed(StrictSerializer):
    """Which card is meant, as printed on it: not proof of anything."""

    name = serializers.CharField(max_length=100)
    id_number = serializers.CharField(max_length=32)
    card_number = serializers.CharField(max_length=20)


class ChallengeOut(serializers.Serializer):
    challenge_id = serializers.UUIDField()
    phone_masked = serializers.CharField(help_text="where the code went, e.g. 138****5678")
    expires_at = serializers.DateTimeField()


class ECardApplyChallengeApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    @holder_schema(
        operation_id="ecard_apply_challenge",
        request=CardNamed,
        responses={201: ChallengeOut, **errors(503)},
        description="Step 1 of binding: send a 6-digit code by SMS to the phone the card centre "
        "holds for the holder (valid 5 minutes, 5 tries; at most 5 codes a day per holder).",
    )
    @idempotent
    def post(self, request):
        data = CardNamed(data=request.data)
        data.is_valid(raise_exception=True)
        challenge = services.binding_challenge_create(
            user=request.user, by=self.actor(), **data.validated_data
        )
        body = {
            "challenge_id": challenge.public_id,
            "phone_masked": challenge.holder.phone_masked,
            "expires_at": challenge.expires_at,
        }
        return Response(ChallengeOut(body).data, status=status.HTTP_201_CREATED)


class ECardApplyApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    class ECardApplyIn(CardNamed):
        challenge_id = serializers.UUIDField(required=False, help_text="from /ecard/apply/challenge")
        sms_code = serializers.RegexField(r"^[0-9]{6}$", required=False, help_text="the code in the SMS")
        identity_token = IdentityTokenField(required=False, max_length=512)
        password = SixDigits(help_text="the new e-card password")
        channel = serializers.ChoiceField(choices=ECardChannel.values, default=ECardChannel.NATIONAL_APP)

    @holder_schema(
        operation_id="ecard_apply",
        request=ECardApplyIn,
        responses={201: ECardOut, 200: ECardOut, **errors(503)},
        description="Step 2 of binding: the SMS code and a real-person check bind the card's e-card "
        "to this account (201), or, if it exists, move it here and reset its password (200).",
    )
    @idempotent
    def post(self, request):
        data = self.ECardApplyIn(data=request.data)
        data.is_valid(raise_exception=True)
        ecard, created = services.ecard_apply(user=request.user, by=self.actor(), **data.validated_data)
        return ecard_response(ecard, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ECardPasswordApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    class ECardPasswordIn(StrictSerializer):
        old_password = SixDigits()
        new_password = SixDigits()

    @holder_schema(operation_id="ecard_password_change", request=ECardPasswordIn, responses={204: None})
    @idempotent
    def post(self, request):
        data = self.ECardPasswordIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.ecard_change_password(
            ecard=self.ecard(),
            by=self.actor(),
            keep_family=request.session_family,
            **data.validated_data,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- authorisations


class AuthorisationOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    purposes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    live = serializers.SerializerMethodField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField(allow_blank=True)

    def get_live(self, grant) -> bool:
        return grant.is_live()


class AuthorisationListApi(HolderApi):
    def get_throttles(self):
        return [t() for t in SECRET_THROTTLES] if self.request.method == "POST" else []

    class AuthorisationIn(StrictSerializer):
        password = SixDigits()
        purposes = serializers.ListField(
            child=serializers.CharField(max_length=16, help_text="payment, transit, culture or identity"),
            min_length=1,
            max_length=4,
        )
        minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 7)

    @holder_schema(
        operation_id="authorisation_list", responses={200: AuthorisationOut(many=True)}, write=False
    )
    def get(self, request):
        grants = selectors.authorisation_list(ecard=self.ecard())
        return Response(AuthorisationOut(grants, many=True).data)

    @holder_schema(
        operation_id="authorisation_grant",
        request=AuthorisationIn,
        responses={201: AuthorisationOut},
    )
    @idempotent
    def post(self, request):
        data = self.AuthorisationIn(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.authorisation_grant(ecard=self.ecard(), by=self.actor(), **data.validated_data)
        return Response(AuthorisationOut(grant).data, status=status.HTTP_201_CREATED)


class AuthorisationDetailApi(HolderApi):
    @holder_schema(operation_id="authorisation_withdraw", responses={200: AuthorisationOut})
    @idempotent
    def delete(self, request, authorisation_id):
        grant = selectors.authorisation_get(ecard=self.ecard(), public_id=authorisation_id)
        grant = services.authorisation_withdraw(authorisation=grant, by=self.actor())
        return Response(AuthorisationOut(grant).data)


# --------------------------------------------------------------------------- wards and notices


class WardOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name_masked = serializers.CharField()
    id_number_masked = serializers.CharField()


class WardListApi(HolderApi):
    @extend_schema(operation_id="ward_list", responses={200: WardOut(many=True), **errors(*READ_ERRORS)})
    def get(self, request):
        return Response(WardOut(authority.wards(request.user), many=True).data)


class NoticeOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    title_en = serializers.CharField()
    body_en = serializers.CharField()
    created_at = serializers.DateTimeField()
    read = serializers.SerializerMethodField()

    def get_read(self, notice) -> bool:
        return notice.read_at is not None


NoticePageOut = page_of(NoticeOut, "NoticePageOut")


class NoticeListApi(HolderApi):
    """The holder's in-app notices, newest first."""

    query_parameters = frozenset({"ward", "page", "page_size"})

    @holder_schema(
        operation_id="notice_list",
        responses={200: NoticePageOut},
        write=False,
        parameters=PAGE_PARAMETERS,
    )
    def get(self, request):
        paginator = Pages()
        page = paginator.paginate_queryset(
            selectors.notice_list(user=request.user, ward=self.ward()), request, view=self
        )
        return paginator.get_paginated_response(NoticeOut(page, many=True).data)


class NoticeReadApi(HolderApi):
    @holder_schema(operation_id="notice_read", request=None, responses={200: NoticeOut})
    @idempotent
    def post(self, request, notice_id):
        notice = selectors.notice_get(user=request.user, ward=self.ward(), public_id=notice_id)
        return Response(NoticeOut(services.notice_mark_read(notice=notice)).data)
