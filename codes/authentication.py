from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication

from plumbing import assertions

from .services import Device, scanner_authenticate


def scanner_from_request(request) -> Device:
    """The device behind a request's bearer JWT (a Django or a DRF request)."""
    return scanner_authenticate(assertions.bearer_or_refuse(request, "scanner"))


class ScannerPrincipal:
    """``request.user`` for a scanner: the device, never a person."""

    is_authenticated = True
    is_staff = False
    pk = None

    def __init__(self, device: Device):
        self.device = device


class ScannerAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <JWT signed by the device's own key, Ed25519 or SM2>``."""

    def authenticate(self, request):
        return ScannerPrincipal(scanner_from_request(request)), None

    def authenticate_header(self, request):
        return 'Bearer realm="ecard-scanner"'


class ScannerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "codes.authentication.ScannerAuthentication"
    name = "scannerJWT"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": (
                "JWT (EdDSA, or SM2SM3 for an SM2 key; signed by the device; iss=device id, "
                "aud=ecard:scanner)"
            ),
        }
