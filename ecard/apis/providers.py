"""Transit payment: the holder's side of payment agreements (list, confirm, end), and the
payment providers' server-to-server API with its own authentication (a JWT signed by the
provider's registered key)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, serializers, status
from rest_framework.response import Response

from plumbing import assertions
from plumbing.api import (
    SECRET_THROTTLES,
    SixDigits,
    StrictSerializer,
    errors,
    idempotent,
)
from plumbing.views import ApiView

from .. import selectors, services
from ..models import (
    AGREEMENT_STATES,
    PaymentMethod,
    PaymentProvider,
)
from .holders import (
    HolderApi,
    holder_schema,
)

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
    target_class = "ecard.apis.providers.ProviderAuthentication"
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
