from django.contrib.auth.backends import ModelBackend
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication

from plumbing.errors import DomainError

from .models import User
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


class PhoneBackend(ModelBackend):
    """Sign-in of an app account by phone and password: the phone is sealed at rest, so the
    account is found through the phone's blind index."""

    def authenticate(self, request, phone=None, password=None, **kwargs):
        if phone is None or password is None:
            return None
        user = User.objects.filter(phone_index=phone).first()
        if user is None:
            # As long as a wrong password takes, so timing tells nobody which phones have accounts.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
