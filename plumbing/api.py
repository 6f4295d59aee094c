"""What every API view shares: one error shape, strict JSON bodies, throttles, idempotency.

Plumbing, not product rules: nothing here imports an app. The model that keeps idempotency
keys is named by ``IDEMPOTENCY_RECORD_MODEL``, as Django names the user model by
``AUTH_USER_MODEL``, so every app's views can use this module without a circle.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, throttling
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from .errors import DomainError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- bodies


def parse_json(raw: bytes) -> Any:
    """A request body's JSON, or ``request.malformed``: bad UTF-8, bad JSON, or nesting deeper
    than the parser's recursion limit (``[[[[…]]]]`` in 10 KB), never a 500."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DomainError("request.malformed") from None


class LimitedJSONParser(JSONParser):
    """JSON only, at most ``API_MAX_BODY_BYTES``; anything else is a 4xx, never a 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise DomainError("request.too_large")
        return parse_json(raw) if raw else {}


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo in a client must not pass silently.

    A refusal carries its messages in Chinese and in English: DRF words a field's error in
    the request's language only, so a failed validation is run again under English for
    ``message_en`` (only then: the cost is on bad requests).
    """

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        valid = super().is_valid(raise_exception=False)
        if not valid and raise_exception:
            error = exceptions.ValidationError(self.errors)
            error.english = english_errors(self)  # type: ignore[attr-defined]  # read by domain_error
            raise error
        return valid

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for field in fields.values():
            if isinstance(field, serializers.CharField):
                # Values are taken as sent, as the schema describes them; the services normalise
                # what they read (names, phones, numbers). DRF's trimming would turn "\x1c" into
                # a blank field the schema calls valid.
                field.trim_whitespace = False
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["unknown field"]}, code="unknown_field")
        return super().to_internal_value(data)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """In the schema, as on the server: a strict body takes no field it does not name."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> Any:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


def english_errors(serializer: serializers.Serializer) -> Any:
    """The same serializer's errors on the same data, worded in English."""
    with translation.override("en"):
        again = type(serializer)(data=serializer.initial_data, context=serializer.context)
        again.is_valid()
        return again.errors


@extend_schema_field({"type": "string", "pattern": "^[0-9]{6}$", "example": "802461"})
class SixDigits(serializers.CharField):
    """A PIN or e-card password. The schema says six digits; the service checks them (and
    refuses weak ones) with its own codes, so the field itself takes any short string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=6, **kwargs)


# What normalise_phone accepts, as a pattern: 11 digits starting 1[3-9], an optional +86 /
# 0086 / 86, and the spaces, tabs, hyphens, dots and brackets people type around them.
_SEP = "[ \t.()-]*"
PHONE_PATTERN = f"^{_SEP}(\\+86|0086|86)?{_SEP}1{_SEP}[3-9]({_SEP}[0-9]){{9}}{_SEP}$"


@extend_schema_field({"type": "string", "maxLength": 20, "pattern": PHONE_PATTERN, "example": "13800000001"})
class PhoneField(serializers.CharField):
    """A mainland mobile number as typed; ``normalise_phone`` reads it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=20, **kwargs)


def refuse_unknown_query(query: Iterable[str], allowed: Iterable[str]) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise DomainError("request.unknown_field", field=unknown[0], name=unknown[0])


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable machine-readable code, e.g. card.loss_irrevocable")
    message = serializers.CharField(
        help_text="in the request's language (Accept-Language), Chinese by default"
    )
    message_en = serializers.CharField(help_text="in English")
    field = serializers.CharField(required=False)


class Pages(PageNumberPagination):
    """Pages of 20, ``page_size`` up to 100. A ``page`` or ``page_size`` that is not a whole
    number in range is a 400 naming it, never silently the default; a page past the last
    is 404."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        for name, maximum in (("page", None), (self.page_size_query_param, self.max_page_size)):
            value = request.query_params.get(name)
            if value is None:
                continue
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= (maximum or int(value)):
                bounds = f"1–{maximum}" if maximum else "1 or more"
                raise DomainError("request.invalid", field=name, detail=f"{name}: a whole number, {bounds}")
        return super().paginate_queryset(queryset, request, view)


PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY, required=False),
    OpenApiParameter(
        "page_size", {"type": "integer", "minimum": 1, "maximum": 100}, OpenApiParameter.QUERY, required=False
    ),
]


def page_of(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The schema of a page from PageNumberPagination holding ``item`` results."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.CharField(allow_null=True),
            "previous": serializers.CharField(allow_null=True),
            "results": item(many=True),
        },
    )


def errors(*statuses: int) -> dict:
    """Schema entries for the error responses a view can give."""
    return {status: OpenApiResponse(ErrorSerializer, description="error") for status in statuses}


# Visible ASCII: what an HTTP header carries unchanged everywhere, and what the schema says.
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,128}")
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 128, "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"},
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body gets the first response; nothing runs twice.",
)


# --------------------------------------------------------------------------- errors


def _first_validation_error(detail: Any, path: str = "") -> Any:
    if isinstance(detail, dict):
        for key, value in detail.items():
            found = _first_validation_error(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            found = _first_validation_error(
                value, path if not isinstance(value, dict | list) else f"{path}[{index}]"
            )
            if found:
                return found
    elif detail is not None:
        return path, detail
    return None


def domain_error(exc: Exception) -> DomainError | None:
    """The domain error a framework exception stands for (None: not one of ours)."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        path, detail = _first_validation_error(exc.detail) or ("", "invalid")
        field = None if path in ("", "non_field_errors") else path
        if getattr(detail, "code", None) == "unknown_field" or str(detail) == "unknown field":
            return DomainError("request.unknown_field", field=field, name=field)
        english = getattr(exc, "english", None)
        path_en, detail_en = (english and _first_validation_error(english)) or (path, detail)
        if path_en != path:  # the English run disagreed (it should not): say nothing wrong
            detail_en = getattr(detail, "code", "invalid")
        return DomainError(
            "request.invalid",
            field=field,
            detail=f"{field}: {detail}" if field else str(detail),
            detail_en=f"{field}: {detail_en}" if field else str(detail_en),
        )
    if isinstance(exc, exceptions.Throttled):
        return DomainError("request.throttled", wait=int(exc.wait or 1))  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        return DomainError("auth.not_authenticated")
    if isinstance(exc, exceptions.ParseError):
        return DomainError("request.malformed")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return DomainError("request.unsupported_media_type")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return DomainError("request.method_not_allowed")
    if isinstance(exc, exceptions.NotFound | Http404):
        return DomainError("request.not_found")
    if isinstance(exc, exceptions.PermissionDenied):
        return DomainError("request.forbidden")
    return None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Every refusal in one shape: ``{"code", "message", "message_en", "field"?}``."""
    # Imported here: rest_framework.views loads the parser the settings name, in this module,
    # so importing it at the top would fail whenever this module is imported first.
    from rest_framework.views import exception_handler as drf_exception_handler

    error = domain_error(exc)
    if error is None:
        return drf_exception_handler(exc, context)
    response = drf_exception_handler(exc, context) if isinstance(exc, exceptions.APIException) else None
    headers = dict(response.items()) if response is not None else {}
    if error.status == 401:
        # The realm of the view's own authentication (a scanner's, a provider's), as DRF
        # answers its own 401s; the holders' realm where the view names none.
        view, request = context.get("view"), context.get("request")
        realm = view.get_authenticate_header(request) if view is not None and request is not None else None
        headers.setdefault("WWW-Authenticate", realm or 'Bearer realm="ecard"')
    if isinstance(exc, exceptions.Throttled):
        headers["Retry-After"] = str(int(exc.wait or 1))  # type: ignore[attr-defined]
    headers.pop("Content-Type", None)
    return Response(error.as_dict(), status=error.status, headers=headers)


def api_bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own 400s (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many fields, …) in the
    API's shape: a body too large is the JSON 413 the API answers everywhere else."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
            return JsonResponse(DomainError("request.too_large").as_dict(), status=413)
        return JsonResponse(DomainError("request.malformed").as_dict(), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def api_server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 for the API in the API's shape, and a database that cannot be reached
    (an outage, a pool with no connection to give) as the 503 it is: a client retries that."""
    if request.path.startswith("/api/"):
        if isinstance(sys.exc_info()[1], DatabaseError):
            response = JsonResponse(DomainError("request.unavailable").as_dict(), status=503)
            response["Retry-After"] = "5"
            return response
        return JsonResponse(DomainError("request.failed").as_dict(), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def client_address(request: Any) -> str:
    """The address a request came from: ``X-Forwarded-For`` entries are trusted only as far as
    ``NUM_PROXIES`` proxies wrote them (the balancer's, never the client's own). DRF's own
    reading, for a Django request as for a DRF one."""
    from rest_framework.throttling import BaseThrottle

    return BaseThrottle().get_ident(request) or ""  # None for a request with no REMOTE_ADDR


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(DomainError("request.not_found").as_dict(), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


# --------------------------------------------------------------------------- throttles


class FailOpenThrottle:
    """A throttle whose cache is down lets the request through rather than fail it.

    Throttles slow guessing; they are not what keeps a wrong PIN out (the 6-strike lock in
    the database is), so availability wins here.
    """

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return bool(super().allow_request(request, view))  # type: ignore[misc]  # a mixin before a throttle
        except (DomainError, exceptions.APIException):
            raise  # the request itself is bad (its body did not parse): a 4xx, never a pass
        except Exception:  # the cache backend's own errors (redis.ConnectionError, …)
            log.warning("throttle %s skipped: cache unavailable", getattr(self, "scope", ""), exc_info=True)
            return True


class SecretAccountThrottle(FailOpenThrottle, throttling.SimpleRateThrottle):
    """Guessing PINs and passwords: per signed-in account."""

    scope = "secret_account"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if not request.user:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


# Per account only: these endpoints are signed in, and an address is shared by a whole city
# behind a carrier's NAT. Sign-in's own counting of failures is accounts/attempts.py.
SECRET_THROTTLES = [SecretAccountThrottle]


# --------------------------------------------------------------------------- idempotency


def _fingerprint(request: Any) -> str:
    body = json.dumps(request.data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{request.method} {request.get_full_path()} {body}".encode()).hexdigest()


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Replay the first response to a write retried with the same ``Idempotency-Key``.

    The key is reserved in its own committed row before the work starts, so a concurrent
    retry sees it and is told the first is still in progress instead of running twice.
    """

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(self, request, *args, **kwargs)
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise DomainError(
                "request.invalid",
                field="Idempotency-Key",
                detail="Idempotency-Key: 1–128 visible ASCII characters",
            )
        fingerprint = _fingerprint(request)
        IdempotencyRecord = apps.get_model(settings.IDEMPOTENCY_RECORD_MODEL)  # noqa: N806
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(user=request.user, key=key, fingerprint=fingerprint)
        except IntegrityError:
            first = IdempotencyRecord.objects.get(user=request.user, key=key)
            if first.fingerprint != fingerprint:
                raise DomainError("idempotency.key_reused", field="Idempotency-Key") from None
            if first.status is None:
                raise DomainError("idempotency.in_progress", field="Idempotency-Key") from None
            return Response(first.body, status=first.status, headers={"Idempotent-Replayed": "true"})
        try:
            response = handler(self, request, *args, **kwargs)
        except DomainError as exc:
            response = Response(exc.as_dict(), status=exc.status)
        except Exception:
            record.delete()
            raise
        record.status = response.status_code
        record.body = response.data
        record.save(update_fields=["status", "body"])
        return response

    return wrapper


class LenientNegotiation(DefaultContentNegotiation):
    """An ``Accept`` header that names nothing we render gets JSON, not a 406: the API speaks
    JSON only, and a scanner or app with an odd header is better answered than refused. An
    explicit ``?format=`` that is not offered is still refused."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: str | None = None) -> Any:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise
            return renderers[0], renderers[0].media_type
