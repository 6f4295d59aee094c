"""Sign-in throttles keyed on the account: the phone number as it is, however it was typed."""

from __future__ import annotations

import hashlib

from rest_framework import throttling

from plumbing.api import FailOpenThrottle, LoginAddressThrottle
from plumbing.errors import DomainError

from .identity import normalise_phone


class LoginAccountThrottle(FailOpenThrottle, throttling.SimpleRateThrottle):
    """Guessing one account's password: ``+86 139…``, ``139-…`` and ``139 …`` are one account."""

    scope = "login_account"

    def get_cache_key(self, request, view):
        phone = request.data.get("phone") if isinstance(request.data, dict) else None
        if not isinstance(phone, str) or not phone:
            return None
        try:
            phone = normalise_phone(phone)
        except DomainError:
            pass  # refused by the view anyway; counted under what was sent
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(phone.encode()).hexdigest()}


LOGIN_THROTTLES = [LoginAccountThrottle, LoginAddressThrottle]
