"""Card applications online: a new card, a replacement, a data change or a renewal, for the
holder or a ward, and withdrawing one."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from accounts.identity import IdType
from accounts.models import GuardianProof
from plumbing.api import (
    SECRET_THROTTLES,
    LimitedJSONParser,
    PhoneField,
    SixDigits,
    StrictSerializer,
    errors,
    idempotent,
)
from plumbing.errors import DomainError

from .. import authority, services
from ..models import (
    ApplicationKind,
    ApplicationState,
    Delivery,
    Region,
)
from .holders import (
    HolderApi,
    IdentityTokenField,
    holder_schema,
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
