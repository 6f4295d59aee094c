"""The holders' API (/api/v1/): their e-card, card operations, authorisations and notices.

Views parse and shape; the services decide. A holder reaches only their own card or a
ward's (``?ward=<id>``); anything else is 404.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import authentication, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.identity import IdType
from accounts.models import GuardianProof
from plumbing import assertions
from plumbing.api import (
    IDEMPOTENCY_HEADER,
    PAGE_PARAMETERS,
    SECRET_THROTTLES,
    LimitedJSONParser,
    Pages,
    PhoneField,
    SixDigits,
    StrictSerializer,
    errors,
    idempotent,
    page_of,
)
from plumbing.errors import DomainError
from plumbing.views import ApiView

from . import authority, selectors, services
from .audit import Actor
from .matrix import Purpose, Verdict, card_services
from .models import (
    AGREEMENT_STATES,
    ApplicationKind,
    ApplicationState,
    CardState,
    Channel,
    Delivery,
    ECard,
    ECardChannel,
    PaymentMethod,
    PaymentProvider,
    Region,
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


class ECardOut(serializers.Serializer):
    holder = HolderOut()
    ecard = ECardInfoOut()
    card = CardOut()
    services = ServicesOut()


def ecard_body(ecard: ECard) -> dict:
    card = ecard.card
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
        "services": {p: {"verdict": a.verdict, "code": a.code} for p, a in card_services(card).items()},
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


# --------------------------------------------------------------------------- card operations


class NoBody(StrictSerializer):
    pass


class CardOperationApi(HolderApi):
    """A card transition with no parameters; answers with the e-card as it is now."""

    operation = None
    created = False

    @idempotent
    def post(self, request):
        NoBody(data=request.data or {}).is_valid(raise_exception=True)
        ecard = self.ecard()
        type(self).operation(card=ecard.card, by=self.actor())
        return ecard_response(ecard, status.HTTP_201_CREATED if self.created else status.HTTP_200_OK)


def card_operation(name: str, service, description: str, created: bool = False):
    code = 201 if created else 200
    view = type(
        name,
        (CardOperationApi,),
        {"operation": staticmethod(service), "created": created, "__doc__": description},
    )
    return extend_schema_view(
        post=holder_schema(
            operation_id=f"card_{service.__name__.removeprefix('card_')}",
            request=None,
            responses={code: ECardOut},
            description=description,
        )
    )(view)


CardLossReportApi = card_operation(
    "CardLossReportApi",
    services.card_report_temporary_loss,
    "临时挂失: at once; card.formalisation_deadline says by when to formalise it at an outlet.",
)
CardEnableApi = card_operation("CardEnableApi", services.card_enable, "启用: enable a received, sealed card.")
CardRenewalApi = card_operation(
    "CardRenewalApi",
    services.card_apply_renewal,
    "换领: apply for a new card from 60 days before expiry; card.replacement shows it.",
    created=True,
)


class CardLossLiftApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    class CardLossLiftIn(StrictSerializer):
        identity_token = IdentityTokenField(required=False, max_length=512)

    @holder_schema(
        operation_id="card_lift_loss",
        request=CardLossLiftIn,
        responses={200: ECardOut, **errors(503)},
        description="解挂: the card was found. Takes a fresh real-person check: the phone may have "
        "been lost with the card.",
    )
    @idempotent
    def post(self, request):
        data = self.CardLossLiftIn(data=request.data or {})
        data.is_valid(raise_exception=True)
        ecard = self.ecard()
        services.card_lift_loss(card=ecard.card, by=self.actor(), **data.validated_data)
        return ecard_response(ecard)


class CardCancelApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    class CardCancelIn(StrictSerializer):
        reason = serializers.ChoiceField(
            choices=sorted(services.HOLDER_REASONS), help_text="moved out of the province, or settling abroad"
        )
        identity_token = IdentityTokenField(required=False, max_length=512)

    @holder_schema(
        operation_id="card_cancel",
        request=CardCancelIn,
        responses={200: ECardOut, **errors(503)},
        description="注销 in the app after a fresh real-person check; the e-card ends with the card. "
        "Other reasons (death) are for an outlet.",
    )
    @idempotent
    def post(self, request):
        data = self.CardCancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        ecard = self.ecard()
        services.card_cancel_by_holder(card=ecard.card, by=self.actor(), **data.validated_data)
        return ecard_response(ecard)


class CardPinApi(HolderApi):
    throttle_classes = SECRET_THROTTLES

    class CardPinIn(StrictSerializer):
        old_pin = SixDigits()
        new_pin = SixDigits()

    @holder_schema(
        operation_id="card_pin_change",
        request=CardPinIn,
        responses={200: ECardOut},
        description="Change the PIN; the first change of the initial PIN enables the card.",
    )
    @idempotent
    def post(self, request):
        data = self.CardPinIn(data=request.data)
        data.is_valid(raise_exception=True)
        ecard = self.ecard()
        services.card_change_pin(card=ecard.card, by=self.actor(), **data.validated_data)
        return ecard_response(ecard)


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


# --------------------------------------------------------------------------- transit payment


class AgreementOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    agreement_id = serializers.CharField(source="provider_agreement_id", help_text="the provider's id")
    provider = serializers.CharField(source="provider.name")
    method = serializers.ChoiceField(choices=PaymentMethod.values)
    account_masked = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(
        choices=AGREEMENT_STATES,
        help_text="pending: proposed by the provider, waiting for the holder's confirmation",
    )
    live = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class ProviderAgreementOut(serializers.Serializer):
    """What a provider learns of its proposal: its own id and where it stands, nothing of the
    holder's card."""

    id = serializers.UUIDField(source="public_id")
    agreement_id = serializers.CharField(source="provider_agreement_id")
    state = serializers.ChoiceField(choices=AGREEMENT_STATES)
    created_at = serializers.DateTimeField()


class PaymentAgreementListApi(HolderApi):
    """The e-card's transit payment agreements, live first then ended, newest first."""

    @holder_schema(
        operation_id="payment_agreement_list", responses={200: AgreementOut(many=True)}, write=False
    )
    def get(self, request):
        agreements = selectors.payment_agreement_list(ecard=self.ecard())
        return Response(AgreementOut(agreements, many=True).data)


class PaymentAgreementConfirmApi(HolderApi):
    class ConfirmIn(StrictSerializer):
        password = SixDigits(help_text="the e-card password")

    def get_throttles(self):
        return [t() for t in SECRET_THROTTLES]

    @holder_schema(
        operation_id="payment_agreement_confirm",
        request=ConfirmIn,
        responses={200: AgreementOut},
        description="Confirm a provider's proposed agreement with the e-card password: from now on "
        "it pays transit fares, in place of any earlier agreement.",
    )
    @idempotent
    def post(self, request, agreement_id):
        data = self.ConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        agreement = selectors.payment_agreement_get(ecard=self.ecard(), public_id=agreement_id)
        confirmed = services.agreement_confirm(
            agreement=agreement, password=data.validated_data["password"], by=self.actor()
        )
        return Response(AgreementOut(confirmed).data)


class PaymentAgreementDetailApi(HolderApi):
    @holder_schema(
        operation_id="payment_agreement_end",
        responses={200: AgreementOut},
        description="End the agreement (or decline a proposal): no transit fares from now on; "
        "transit codes already shown stop working.",
    )
    @idempotent
    def delete(self, request, agreement_id):
        agreement = selectors.payment_agreement_get(ecard=self.ecard(), public_id=agreement_id)
        return Response(AgreementOut(services.agreement_end(agreement=agreement, by=self.actor())).data)


class ProviderPrincipal:
    """``request.user`` for a payment provider's server: the provider, never a person."""

    is_authenticated = True
    is_staff = False
    pk = None

    def __init__(self, provider: PaymentProvider):
        self.provider = provider


class ProviderAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <JWT signed by the provider's own key, Ed25519 or SM2>``."""

    def authenticate(self, request):
        token = assertions.bearer_or_refuse(request, "provider")
        return ProviderPrincipal(services.provider_authenticate(token)), None

    def authenticate_header(self, request):
        return 'Bearer realm="ecard-provider"'


class ProviderAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "ecard.apis.ProviderAuthentication"
    name = "providerJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT (EdDSA, signed by the provider; iss=provider id, aud=ecard:provider)",
        }


class ProviderAgreementApi(ApiView):
    authentication_classes = [ProviderAuthentication]
    throttle_classes = []

    class AgreementIn(StrictSerializer):
        agreement_id = serializers.RegexField(
            r"^[A-Za-z0-9._:-]{1,64}$",
            max_length=64,
            help_text="the provider's own id: calls are idempotent by it",
        )
        card_number = serializers.CharField(max_length=20, help_text="the social security card's number")
        id_number = serializers.CharField(max_length=32, help_text="the holder's ID number, as a check")
        method = serializers.ChoiceField(choices=PaymentMethod.values)
        account_masked = serializers.CharField(
            max_length=32, required=False, default="", help_text="e.g. 6222****1234"
        )

    @extend_schema(
        operation_id="provider_payment_agreement_propose",
        request=AgreementIn,
        responses={
            201: ProviderAgreementOut,
            200: ProviderAgreementOut,
            **errors(400, 401, 403, 409, 413, 415, 422, 503),
        },
        description="A bank or payment app proposes a holder's transit payment agreement; it pays "
        "nothing until the holder confirms it in the app (state pending → live). Each token is good "
        "for one call (jti). The same agreement_id again answers 200 with where it stands.",
    )
    def post(self, request):
        data = self.AgreementIn(data=request.data)
        data.is_valid(raise_exception=True)
        agreement, created = services.agreement_propose(provider=request.user.provider, **data.validated_data)
        return Response(
            ProviderAgreementOut(agreement).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --------------------------------------------------------------------------- card applications


class ApplicationOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.ChoiceField(choices=ApplicationKind.values)
    state = serializers.ChoiceField(choices=ApplicationState.values)
    region = serializers.CharField()
    delivery = serializers.ChoiceField(choices=Delivery.values)
    outlet = serializers.CharField(allow_blank=True)
    tracking_number = serializers.CharField(allow_blank=True)
    collect_by = serializers.DateField(allow_null=True, help_text="outlet collection: the last day")
    reject_reason = serializers.CharField(allow_blank=True)
    new_card_number_masked = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_new_card_number_masked(self, application) -> str | None:
        return application.new_card.number_masked if application.new_card_id else None


class CardApplicationListApi(HolderApi):
    """申领 and 补换领 online, and their progress (制卡进度)."""

    parser_classes = [MultiPartParser, LimitedJSONParser]

    def get_throttles(self):
        return [t() for t in SECRET_THROTTLES] if self.request.method == "POST" else []

    class ApplicationIn(StrictSerializer):
        kind = serializers.ChoiceField(choices=ApplicationKind.values)
        identity_token = IdentityTokenField(required=False, max_length=512)
        delivery = serializers.ChoiceField(choices=Delivery.values)
        outlet = serializers.CharField(max_length=100, required=False, default="")
        postal_address = serializers.CharField(max_length=200, required=False, default="")
        photo = serializers.FileField(
            required=False, help_text="JPEG or PNG, at most 2 MB, at least 358×441 (new cards, data changes)"
        )
        name = serializers.CharField(max_length=100, required=False, help_text="kind new: the person's name")
        id_type = serializers.ChoiceField(choices=IdType.values, required=False)
        id_number = serializers.CharField(max_length=32, required=False)
        region = serializers.ChoiceField(choices=Region.values, required=False)
        phone = PhoneField(required=False)
        guardian_proof = serializers.ChoiceField(
            choices=GuardianProof.values, required=False, help_text="kind new, for a child under 16"
        )
        guardian_proof_number = serializers.CharField(
            max_length=40, required=False, help_text="kind new, for a child: the proof's number"
        )
        ecard_password = SixDigits(
            required=False, help_text="kind new in a third-generation province: the e-card issued with it"
        )

    @holder_schema(
        operation_id="card_application_list", responses={200: ApplicationOut(many=True)}, write=False
    )
    def get(self, request):
        applications = authority.applications(request.user)
        if self.ward() is not None:  # a ward's only
            applications = applications.filter(holder=self.holder())
        return Response(ApplicationOut(applications, many=True).data)

    @holder_schema(
        operation_id="card_application_submit",
        request={"multipart/form-data": ApplicationIn},
        responses={201: ApplicationOut, **errors(503)},
        description="Apply for a card (kind new: name, ID document, region, phone) or a replacement "
        "of the signed-in holder's card (?ward= for a ward's), after a real-person check.",
    )
    @idempotent
    def post(self, request):
        data = self.ApplicationIn(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        kind = fields.pop("kind")
        if kind == ApplicationKind.NEW:
            missing = [f for f in ("name", "id_type", "id_number", "region", "phone") if not fields.get(f)]
            if missing:
                raise DomainError(
                    "request.invalid", field=missing[0], detail=f"{missing[0]}: required for a new card"
                )
            application = services.application_submit_new(user=request.user, by=self.actor(), **fields)
        else:
            extra = sorted(
                {"name", "id_type", "id_number", "region", "phone", "guardian_proof"} & set(fields)
            )
            if extra:
                raise DomainError("request.unknown_field", field=extra[0], name=extra[0])
            application = services.application_submit_replacement(
                user=request.user, card=self.ecard().card, kind=kind, by=self.actor(), **fields
            )
        return Response(ApplicationOut(application).data, status=status.HTTP_201_CREATED)


class CardApplicationWithdrawApi(HolderApi):
    @holder_schema(operation_id="card_application_withdraw", request=None, responses={200: ApplicationOut})
    @idempotent
    def post(self, request, application_id):
        application = authority.application_for(request.user, application_id)
        application = services.application_withdraw(application=application, by=self.actor())
        return Response(ApplicationOut(application).data)


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
