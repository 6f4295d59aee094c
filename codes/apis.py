"""QR codes for holders (/api/v1/codes, usage, scan-mode confirm) and the scanner API."""

from __future__ import annotations

import functools
import io
import time

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from ecard import authority, selectors
from ecard.apis import WARD, HolderApi, holder_schema
from ecard.matrix import Purpose
from plumbing import fastpath, observability
from plumbing.api import (
    PAGE_PARAMETERS,
    Pages,
    SixDigits,
    StrictSerializer,
    domain_error,
    errors,
    idempotent,
    page_of,
    parse_json,
)
from plumbing.errors import DomainError
from plumbing.views import ApiView

from . import keys, services, verifier
from .authentication import ScannerAuthentication, scanner_from_request
from .certificates import certificate_pdf
from .models import DeviceCertificate, ScanRecord, ScanSession

# --------------------------------------------------------------------------- holder side

MEMBER = OpenApiParameter(
    "member",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    required=False,
    description="a family member's code (亲情账户): the link id from /api/v1/family; identity, "
    "culture and payment only",
)


class CodeApi(HolderApi):
    """The signed-in holder's codes, a ward's (``?ward=``), or a family member's (``?member=``)."""

    query_parameters = frozenset({"ward", "member"})

    @functools.cached_property
    def family(self):
        """The family link whose member's code is asked for, read once per request."""
        member = self.request.query_params.get("member")
        if member is None:
            return None
        # With ?ward= the presenter would be the ward, a minor, who has no family: not found.
        return authority.family_member_link(presenter=self.holder(), public_id=member)

    def ecard(self):
        family = self.family
        return super().ecard() if family is None else selectors.ecard_get(holder=family.member)


class CodeIn(StrictSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.values)


class CodeOut(serializers.Serializer):
    code = serializers.CharField(help_text="the QR text (QR alphanumeric mode)")
    purpose = serializers.CharField()
    expires_at = serializers.DateTimeField()
    authorised_by_holder = serializers.BooleanField()
    verdict = serializers.CharField(help_text="the purpose's matrix verdict: allowed or needs_authorisation")


class CodeIssueApi(CodeApi):
    @holder_schema(operation_id="code_issue", request=CodeIn, responses={201: CodeOut}, parameters=(MEMBER,))
    @idempotent
    def post(self, request):
        data = CodeIn(data=request.data)
        data.is_valid(raise_exception=True)
        ecard = self.ecard()
        purpose = data.validated_data["purpose"]
        issued = services.code_issue(ecard=ecard, purpose=purpose, by=self.actor(), family=self.family)
        observability.CODES_ISSUED.labels(purpose).inc()
        body = {
            "code": issued.text,
            "purpose": issued.purpose,
            "expires_at": issued.expires_at,
            "authorised_by_holder": issued.authorised_by_holder,
            "verdict": issued.verdict,
        }
        return Response(CodeOut(body).data, status=status.HTTP_201_CREATED)


class CodeImageApi(CodeApi):
    """The code drawn by the server, for clients that cannot draw one."""

    @extend_schema(
        operation_id="code_image",
        parameters=[WARD, MEMBER],
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.STR),
            **errors(400, 401, 404, 429),
        },
    )
    def get(self, request, text: str, fmt: str):
        ecard = self.ecard()
        try:
            code = verifier.parse(text)
        except verifier.Refusal:
            raise DomainError("code.not_found") from None
        if code.ecard != ecard.reference:
            raise DomainError("code.not_found")
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=8)
        qr.add_data(text)
        qr.make(fit=True)
        buffer = io.BytesIO()
        if fmt == "svg":
            qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
            content_type = "image/svg+xml"
        else:
            qr.make_image().save(buffer, format="PNG")
            content_type = "image/png"
        response = HttpResponse(buffer.getvalue(), content_type=content_type)
        response["Cache-Control"] = "private, no-store"
        return response


class DeviceCertificateOut(serializers.Serializer):
    serial = serializers.IntegerField(source="pk")
    certificate = serializers.CharField(help_text="base64url of the certificate bytes (docs/qr-format.md)")
    purposes = serializers.ListField(child=serializers.CharField())
    not_before = serializers.DateTimeField()
    not_after = serializers.DateTimeField()
    live = serializers.SerializerMethodField()

    def get_live(self, row) -> bool:
        return row.is_live()


class DeviceCertificateListApi(HolderApi):
    """The phone's own key, certified to sign codes offline (device-signed codes)."""

    class DeviceCertificateIn(StrictSerializer):
        public_key = serializers.CharField(
            max_length=200, help_text="base64 of the P-256 public key, compressed (33 bytes) or not (65)"
        )
        purposes = serializers.ListField(
            child=serializers.ChoiceField(choices=sorted(verifier.DEVICE_PURPOSES)),
            required=False,
            max_length=3,
            help_text="transit, culture, identity (default: all the card allows now); never payment",
        )

    @holder_schema(
        operation_id="device_certificate_list", responses={200: DeviceCertificateOut(many=True)}, write=False
    )
    def get(self, request):
        rows = DeviceCertificate.objects.filter(ecard=self.ecard(), revoked_at__isnull=True)
        return Response(DeviceCertificateOut(rows.filter(not_after__gt=timezone.now()), many=True).data)

    @holder_schema(
        operation_id="device_certificate_issue",
        request=DeviceCertificateIn,
        responses={201: DeviceCertificateOut},
        description="Certify the phone's P-256 key for DEVICE_CERT_HOURS; a third certificate "
        "revokes the oldest. The phone then signs its own codes (docs/qr-format.md).",
    )
    @idempotent
    def post(self, request):
        data = self.DeviceCertificateIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.device_certificate_issue(
            ecard=self.ecard(),
            public_key=data.validated_data["public_key"],
            purposes=data.validated_data.get("purposes"),
            by=self.actor(),
        )
        return Response(DeviceCertificateOut(row).data, status=status.HTTP_201_CREATED)


class DeviceCertificateDetailApi(HolderApi):
    @holder_schema(operation_id="device_certificate_revoke", responses={204: None})
    @idempotent
    def delete(self, request, serial):
        # Serials are 4 bytes: anything else names no certificate.
        number = int(serial) if serial.isascii() and serial.isdigit() and len(serial) <= 10 else None
        row = DeviceCertificate.objects.filter(ecard=self.ecard(), pk=number).first() if number else None
        if row is None:
            raise DomainError("device.certificate_not_found")
        services.device_certificate_revoke(certificate=row, by=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CertificateApi(HolderApi):
    """The pick-up certificate (领卡证明) of a replacement in progress, as a PDF."""

    @extend_schema(
        operation_id="card_application_certificate",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors(401, 404, 409, 429, 503),
        },
    )
    def get(self, request, application_id: str):
        application = authority.application_for(request.user, application_id)
        response = HttpResponse(certificate_pdf(application=application), content_type="application/pdf")
        response["Content-Disposition"] = 'inline; filename="certificate.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response


class UsageOut(serializers.Serializer):
    scanned_at = serializers.DateTimeField()
    organisation = serializers.CharField(source="device.organisation")
    device_kind = serializers.CharField(source="device.kind")
    purpose = serializers.CharField()
    result = serializers.CharField()
    reason = serializers.CharField()
    presented_by = serializers.SerializerMethodField(
        help_text="shown by a family presenter (亲情账户): their masked name; null when shown by the holder"
    )

    @extend_schema_field({"type": "string", "nullable": True})
    def get_presented_by(self, scan) -> str | None:
        return self.context["presenters"].get(scan.presenter) if scan.presenter else None


UsagePageOut = page_of(UsageOut, "UsagePageOut")


class UsageApi(HolderApi):
    query_parameters = frozenset({"ward", "page", "page_size"})

    @holder_schema(
        operation_id="ecard_usage",
        responses={200: UsagePageOut},
        write=False,
        parameters=PAGE_PARAMETERS,
    )
    def get(self, request):
        ecard = self.ecard()
        services.scan_records_flush()
        scans = ScanRecord.objects.filter(ecard_reference=ecard.reference).select_related("device")
        paginator = Pages()
        page = paginator.paginate_queryset(scans.order_by("-scanned_at"), request, view=self)
        presenters = selectors.family_presenter_names(member=ecard.card.holder)
        return paginator.get_paginated_response(
            UsageOut(page, many=True, context={"presenters": presenters}).data
        )


class SessionConfirmIn(StrictSerializer):
    qr = serializers.CharField(max_length=64, help_text="the text of the terminal's QR code")
    password = SixDigits(required=False, help_text="the e-card password")
    authorisation = serializers.UUIDField(required=False, help_text="or a live holder authorisation's id")


class SessionOut(serializers.Serializer):
    session = serializers.CharField(source="session_id")
    purpose = serializers.CharField()
    status = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField()
    authorised_by_holder = serializers.BooleanField()

    def get_status(self, session) -> str:
        if session.confirmed_at:
            return "confirmed"
        return "expired" if timezone.now() >= session.expires_at else "pending"


class ScanSessionConfirmApi(HolderApi):
    @holder_schema(operation_id="scan_session_confirm", request=SessionConfirmIn, responses={200: SessionOut})
    @idempotent
    def post(self, request):
        data = SessionConfirmIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.scan_session_confirm(
            ecard=self.ecard(),
            text=data.validated_data["qr"],
            password=data.validated_data.get("password"),
            authorisation_id=data.validated_data.get("authorisation"),
            by=self.actor(),
        )
        return Response(SessionOut(session).data)


# --------------------------------------------------------------------------- scanner side

SCANNER_ERRORS = (400, 401, 403, 413, 415)


class ScannerApi(ApiView):
    authentication_classes = [ScannerAuthentication]
    throttle_classes = []

    @property
    def device(self) -> services.Device:
        return self.request.user.device  # type: ignore[union-attr]  # ScannerAuthentication's principal


class KeysApi(ApiView):
    """The JWK set scanners verify codes with (Ed25519 as OKP, RFC 8037; SM2 as kty EC, crv SM2); cache it."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="scanner_keys", responses={200: OpenApiTypes.OBJECT}, auth=[])
    def get(self, request):
        try:
            keys.signing_key_current()  # a fresh development server makes its first key here
        except RuntimeError:
            pass  # nothing signs yet: publish what there is; /readyz reports the missing key
        return Response(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


class VerifyIn(StrictSerializer):
    code = serializers.CharField(max_length=512)


class VerifyOut(serializers.Serializer):
    result = serializers.ChoiceField(choices=["accepted", "rejected"])
    code = serializers.CharField(allow_null=True, help_text="why it was rejected")
    purpose = serializers.CharField(allow_null=True)
    ecard = serializers.CharField(allow_null=True, help_text="opaque e-card reference")
    holder = serializers.CharField(allow_null=True, help_text="masked name, when accepted")
    authorised_by_holder = serializers.BooleanField()
    scan_id = serializers.CharField()
    presented_by = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="a family member's code (亲情账户): who showed it, masked; null for the holder's own",
    )


def _verify_input(data) -> str:
    if not isinstance(data, dict):
        raise DomainError("request.invalid", detail="a JSON object")
    unknown = sorted(set(data) - {"code"})
    if unknown:
        raise DomainError("request.unknown_field", field=unknown[0], name=unknown[0])
    code = data.get("code")
    if not isinstance(code, str) or not code or len(code) > 512:
        raise DomainError("request.invalid", field="code", detail="code: the QR text")
    return code


def _verify(device, code: str, arrived: float) -> dict:
    """``arrived``: ``time.monotonic()`` when the request reached us, which the deadline
    counts from. A database that cannot be reached is the JSON 503, never a 500."""
    started = time.perf_counter()
    try:
        outcome = services.verify_online(
            device=device, text=code, deadline=arrived + settings.SCANNER_VERIFY_DEADLINE_SECONDS
        )
    except DatabaseError:
        raise DomainError("request.unavailable") from None
    observability.timed_verification(outcome.purpose, outcome.result, started)
    return outcome.__dict__


def verify_fast(request) -> tuple[int, dict]:
    """``POST /api/v1/scanner/verify`` in ``plumbing.fastpath``'s front door (config/wsgi.py):
    the plain case only. Anything refused before the verification — the scanner's token, the
    body — is left to ``VerifyApi`` below, which answers it in the request's language."""
    arrived = time.monotonic()
    try:
        device = scanner_from_request(request)
        code = _verify_input(parse_json(request.body))
    except DomainError:
        raise fastpath.Defer from None
    try:
        return 200, _verify(device, code, arrived)
    except DomainError as exc:  # the store or the database away, or the deadline gone by
        return exc.status, exc.as_dict()


class VerifyApi(ScannerApi):
    """The hot path: thousands a second at rush hour."""

    # The plain case (POST, JSON, a good scanner token) is answered by verify_fast above, in
    # plumbing.fastpath's front door, the one way past Django's machinery. Everything it defers
    # comes here, through DRF like every other endpoint: its refusals keep their shape and
    # language, and this view documents the endpoint.

    @property
    def default_response_headers(self):
        # A POST's answer carries no Allow header, as the front door's does not: a scanner gets
        # the same headers whichever path answered. Another method's 405 names what is allowed.
        headers = super().default_response_headers
        if self.request.method == "POST":
            headers.pop("Allow", None)
        return headers

    @extend_schema(
        operation_id="scanner_verify",
        request=VerifyIn,
        responses={200: VerifyOut, **errors(*SCANNER_ERRORS)},
    )
    def post(self, request):
        return Response(_verify(self.device, _verify_input(request.data), time.monotonic()))


class UploadItemIn(StrictSerializer):
    code = serializers.CharField(max_length=512)
    scanned_at = serializers.DateTimeField()
    result = serializers.ChoiceField(choices=["accepted", "rejected"], default="accepted")
    reason = serializers.CharField(max_length=40, required=False, default="")


@extend_schema_field(
    {
        "description": "one scan: {code, scanned_at, result: accepted|rejected (default accepted), "
        "reason?}. Each is judged alone: a malformed one is answered invalid and never blocks "
        "the others (docs/qr-format.md, Uploads)."
    }
)
class ScanItemField(serializers.JSONField):
    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)  # a null scan is answered invalid, alone


class UploadIn(StrictSerializer):
    scans = serializers.ListField(child=ScanItemField(), max_length=500)


class UploadResultOut(serializers.Serializer):
    index = serializers.IntegerField(help_text="the scan's position in the upload")
    result = serializers.ChoiceField(choices=["created", "duplicate", "replay", "invalid"])
    reason = serializers.CharField(allow_blank=True, help_text="why it is invalid (a stable code)")
    field = serializers.CharField(required=False, help_text="the scan's field that is invalid")


class UploadOut(serializers.Serializer):
    results = UploadResultOut(many=True)
    created = serializers.IntegerField(help_text="scans stored, replays among them")
    duplicates = serializers.IntegerField()
    replays = serializers.IntegerField()
    invalid = serializers.IntegerField()


class ScansUploadApi(ScannerApi):
    @extend_schema(
        operation_id="scanner_scans_upload",
        request=UploadIn,
        responses={200: UploadOut, **errors(*SCANNER_ERRORS, 503)},
    )
    def post(self, request):
        data = UploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        services.scan_records_flush()  # an online accept buffered a moment ago counts
        results = []
        for index, raw in enumerate(data.validated_data["scans"]):
            item = UploadItemIn(data=raw)
            if item.is_valid():
                outcome = services.scan_upload(device=self.device, item=item.validated_data)
            else:
                error = domain_error(ValidationError(item.errors))
                outcome = {"result": "invalid", "reason": error.code}
                if error.field:
                    outcome["field"] = error.field
            results.append({"index": index, **outcome})
        return Response(services.upload_totals(results))


class ScannerConfigOut(serializers.Serializer):
    device_id = serializers.CharField()
    purposes = serializers.ListField(child=serializers.CharField())
    lifetimes = serializers.DictField(child=serializers.IntegerField(), help_text="purpose → seconds")
    clock_skew_seconds = serializers.IntegerField()
    revocations_max_age_seconds = serializers.IntegerField(
        help_text="the smallest of revocations_max_age_by_purpose: for gates that keep one figure"
    )
    revocations_max_age_by_purpose = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="purpose → seconds: refuse a code of that purpose offline (revocations.stale) "
        "when the list is older",
    )
    cursor = serializers.IntegerField(help_text="the newest revocation entry's cursor")


class ScannerConfigApi(ScannerApi):
    """What an offline scanner must know to judge codes as the server would."""

    @extend_schema(
        operation_id="scanner_config", responses={200: ScannerConfigOut, **errors(*SCANNER_ERRORS)}
    )
    def get(self, request):
        device = self.device
        purposes = sorted(device.purposes)
        ages = {
            p: settings.QR_REVOCATIONS_MAX_AGE[p] for p in purposes if p in settings.QR_REVOCATIONS_MAX_AGE
        }
        body = {
            "device_id": device.device_id,
            "purposes": purposes,
            "lifetimes": {p: settings.QR_LIFETIMES[p] for p in purposes if p in settings.QR_LIFETIMES},
            "clock_skew_seconds": settings.QR_CLOCK_SKEW_SECONDS,
            "revocations_max_age_seconds": min(ages.values(), default=0),
            "revocations_max_age_by_purpose": ages,
            "cursor": services.revocations_cursor(),
        }
        return Response(ScannerConfigOut(body).data)


class RevocationsOut(serializers.Serializer):
    jws = serializers.CharField(help_text="compact JWS (EdDSA, kid of a key in /scanner/keys)")
    cursor = serializers.IntegerField()
    more = serializers.BooleanField()


class RevocationsApi(ScannerApi):
    query_parameters = frozenset({"since"})

    @extend_schema(
        operation_id="scanner_revocations",
        parameters=[
            OpenApiParameter(
                "since", {"type": "integer", "minimum": 0}, OpenApiParameter.QUERY, required=False
            )
        ],
        responses={200: RevocationsOut, **errors(*SCANNER_ERRORS)},
    )
    def get(self, request):
        since = request.query_params.get("since", "0")
        if not (since.isascii() and since.isdigit()):
            raise DomainError("request.invalid", field="since", detail="since: a cursor, 0 or more")
        since = int(since)
        page = services.revocations_page(since=since)
        return Response({"jws": page.jws, "cursor": page.cursor, "more": page.more})


class SessionCreateIn(StrictSerializer):
    purpose = serializers.ChoiceField(choices=Purpose.values)


class SessionCreatedOut(serializers.Serializer):
    session = serializers.CharField()
    qr = serializers.CharField(help_text="show this as a QR code")
    expires_at = serializers.DateTimeField()


class ScanSessionCreateApi(ScannerApi):
    @extend_schema(
        operation_id="scanner_session_create",
        request=SessionCreateIn,
        responses={201: SessionCreatedOut, **errors(*SCANNER_ERRORS)},
    )
    def post(self, request):
        data = SessionCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.scan_session_create(device=self.device, purpose=data.validated_data["purpose"])
        body = {
            "session": session.session_id,
            "qr": services.SESSION_PREFIX + session.session_id,
            "expires_at": session.expires_at,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class SessionStatusOut(SessionOut):
    holder = serializers.SerializerMethodField()
    ecard = serializers.SerializerMethodField()

    def get_holder(self, session) -> str | None:
        return session.ecard.card.holder.name_masked if session.ecard_id else None

    def get_ecard(self, session) -> str | None:
        return session.ecard.reference if session.ecard_id else None


class ScanSessionStatusApi(ScannerApi):
    @extend_schema(
        operation_id="scanner_session_status",
        responses={200: SessionStatusOut, **errors(401, 403, 404)},
    )
    def get(self, request, session_id: str):
        session = (
            ScanSession.objects.select_related("ecard__card__holder")
            .filter(session_id=session_id, device_id=self.device.pk)
            .first()
        )
        if session is None:
            raise DomainError("session.not_found")
        return Response(SessionStatusOut(session).data)
