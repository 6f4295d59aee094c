"""Holder accounts: register, sign in, refresh, sign out."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from plumbing.api import PhoneField, StrictSerializer, errors
from plumbing.errors import DomainError
from plumbing.views import ApiView

from . import attempts, sessions
from .identity import mask_phone, normalise_phone
from .models import User

COMMON_ERRORS = (400, 413, 415, 429)


class CredentialsIn(StrictSerializer):
    phone = PhoneField()
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    challenge = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="after auth.challenge_required: from /auth/challenge",
    )
    nonce = serializers.CharField(max_length=32, required=False, default="", help_text="its solution")


class TokenPairOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="access token lifetime, seconds")


def _pair_body(pair: sessions.TokenPair) -> dict:
    return {
        "access": pair.access,
        "refresh": pair.refresh,
        "token_type": "Bearer",
        "expires_in": settings.AUTH_ACCESS_TTL_SECONDS,
    }


class ChallengeApi(ApiView):
    """The security check an address must pass after many failures (attempts.py)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class SignInChallengeOut(serializers.Serializer):
        challenge = serializers.CharField()
        bits = serializers.IntegerField(
            help_text="find a nonce: SHA-256 of 'challenge:nonce' starts with this many zero bits"
        )
        expires_in = serializers.IntegerField()

    @extend_schema(
        operation_id="auth_challenge",
        request=None,
        responses={201: SignInChallengeOut, **errors(503)},
        auth=[],
    )
    def post(self, request):
        return Response(attempts.challenge_issue(), status=status.HTTP_201_CREATED)


class RegisterApi(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class RegisterOut(serializers.Serializer):
        phone_masked = serializers.CharField()

    @extend_schema(
        operation_id="auth_register",
        request=CredentialsIn,
        responses={201: RegisterOut, **errors(*COMMON_ERRORS, 409, 422)},
        auth=[],
    )
    def post(self, request):
        data = CredentialsIn(data=request.data)
        data.is_valid(raise_exception=True)
        attempts.registration_check(
            request, challenge=data.validated_data["challenge"], nonce=data.validated_data["nonce"]
        )
        phone = normalise_phone(data.validated_data["phone"])
        password = data.validated_data["password"]
        candidate = User(username=User.app_username(), phone=phone)
        try:
            validate_password(password, user=candidate)
        except DjangoValidationError as exc:
            with translation.override("en"):
                try:
                    validate_password(password, user=candidate)
                except DjangoValidationError as english:
                    reason_en = " ".join(english.messages)
            raise DomainError(
                "account.password_invalid",
                field="password",
                reason=" ".join(exc.messages),
                reason_en=reason_en,
            ) from None
        candidate.set_password(password)
        try:
            with transaction.atomic():
                candidate.save()
        except IntegrityError:
            raise DomainError("account.phone_taken", field="phone") from None
        return Response({"phone_masked": mask_phone(phone)}, status=status.HTTP_201_CREATED)


class TokenApi(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # failures are counted, not requests: attempts.py

    @extend_schema(
        operation_id="auth_token",
        request=CredentialsIn,
        responses={200: TokenPairOut, **errors(*COMMON_ERRORS, 401)},
        auth=[],
    )
    def post(self, request):
        data = CredentialsIn(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data["phone"]
        attempts.check(
            request,
            phone=given,
            challenge=data.validated_data["challenge"],
            nonce=data.validated_data["nonce"],
        )
        try:
            phone = normalise_phone(given)
        except DomainError as exc:
            if exc.code == "request.invalid":  # not a phone number at all: say so
                raise
            attempts.failed(request, phone=given)
            raise DomainError("auth.invalid_credentials") from None
        user = authenticate(request, phone=phone, password=data.validated_data["password"])
        if user is None or user.is_staff:
            # Staff sign in to the admin, not the holders' API.
            attempts.failed(request, phone=given)
            raise DomainError("auth.invalid_credentials")
        return Response(_pair_body(sessions.session_start(user=user)))


class TokenRefreshApi(ApiView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class RefreshIn(StrictSerializer):
        refresh = serializers.CharField(max_length=4096)

    @extend_schema(
        operation_id="auth_token_refresh",
        request=RefreshIn,
        responses={200: TokenPairOut, **errors(*COMMON_ERRORS, 401)},
        auth=[],
    )
    def post(self, request):
        data = self.RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        # A valid refresh token is never held up by anyone's failures; an invalid one counts
        # against the address, and past its limit the address must pass the challenge.
        try:
            pair = sessions.session_refresh(refresh=data.validated_data["refresh"])
        except DomainError as exc:
            if exc.status == 401:
                attempts.check(request, phone=None)
                attempts.failed(request, phone=None)
            raise
        return Response(_pair_body(pair))


class LogoutApi(ApiView):
    @extend_schema(operation_id="auth_logout", request=None, responses={204: None, **errors(401, 413, 415)})
    def post(self, request):
        sessions.session_end(family_id=request.session_family)
        return Response(status=status.HTTP_204_NO_CONTENT)
