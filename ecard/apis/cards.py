"""Card operations in the holders' API: loss reports, lifting a loss, enabling, the PIN,
cancellation. Each is one service call."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers, status

from plumbing.api import (
    SECRET_THROTTLES,
    SixDigits,
    StrictSerializer,
    errors,
    idempotent,
)

from .. import selectors, services
from .holders import (
    ECardOut,
    HolderApi,
    IdentityTokenField,
    NoBody,
    ecard_response,
    holder_schema,
)

# --------------------------------------------------------------------------- card operations


class CardOperationApi(HolderApi):
    """A card transition with no parameters; answers with the e-card as it is now."""

    operation = None
    created = False

    def operation_card(self, ecard):
        """The card the operation applies to: the e-card's, unless the operation says."""
        return ecard.card

    @idempotent
    def post(self, request):
        NoBody(data=request.data or {}).is_valid(raise_exception=True)
        ecard = self.ecard()
        type(self).operation(card=self.operation_card(ecard), by=self.actor())
        # Enabling a new province's card may have moved the e-card (or made another the one
        # in the holder's hands): answer with the e-card as it is now.
        return ecard_response(self.ecard(), status.HTTP_201_CREATED if self.created else status.HTTP_200_OK)


class EnableOperationApi(CardOperationApi):
    def operation_card(self, ecard):
        return selectors.card_to_enable(ecard=ecard)


class LossReportOperationApi(CardOperationApi):
    def operation_card(self, ecard):
        return selectors.card_in_hand(ecard=ecard)


def card_operation(name: str, service, description: str, created: bool = False, base=CardOperationApi):
    code = 201 if created else 200
    view = type(
        name,
        (base,),
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
    "临时挂失 of the card in the holder's hands (a collected replacement too, before it is enabled): "
    "at once; card.formalisation_deadline says by when to formalise it at an outlet.",
    base=LossReportOperationApi,
)
CardEnableApi = card_operation(
    "CardEnableApi",
    services.card_enable,
    "启用: enable the holder's received, sealed card (a new province's or a replacement's, when the "
    "e-card is still on the old one); the e-card moves to it.",
    base=EnableOperationApi,
)
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
        description="Change the PIN of the card in the holder's hands — of those, the one still on "
        "its initial PIN (a PIN reset at the counter, a collected new card) — the first change of "
        "the initial PIN enables the card.",
    )
    @idempotent
    def post(self, request):
        data = self.CardPinIn(data=request.data)
        data.is_valid(raise_exception=True)
        ecard = self.ecard()
        card = selectors.card_for_pin_change(ecard=ecard)
        services.card_change_pin(card=card, by=self.actor(), **data.validated_data)
        # A collected card's first change enables it, and the e-card may have moved to it.
        return ecard_response(self.ecard())
