from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication

from plumbing.errors import DomainError

from .sessions import authenticate_access


class BearerAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access JWT>`` for the holders' app and mini-program."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise DomainError("auth.token_invalid")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise DomainError("auth.token_invalid") from None
        user, claims = authenticate_access(token)
        request.session_family = claims["fam"]
        return user, claims

    def authenticate_header(self, request):
        return 'Bearer realm="ecard"'


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
