"""Sign-in attempts: failures are counted, successes are not, so crowds get in and guessers don't.

Behind a carrier-grade NAT or a balancer a whole city can share one address; counting every
request from it would lock them all out together. So:

- **per account and address** (``SIGNIN_FAILURES_PER_ACCOUNT_ADDRESS``): someone guessing one
  account's password from one place is stopped there, correct password included, for the rest
  of the window;
- **per account** (``SIGNIN_FAILURES_PER_ACCOUNT``), from anywhere: a guess spread over many
  addresses is stopped too; only that account's own failures count, never another's;
- **per address** (``SIGNIN_FAILURES_PER_ADDRESS``), over every account: past it the address
  must solve a challenge (``challenge_issue``; a proof of work by default, a captcha provider
  through ``SIGNIN_CHALLENGE_BITS`` = 0 and a hook of its own) before its password is even
  checked — so spraying one password over many accounts costs work, and a holder behind the
  same NAT who solves it gets in. Registrations from one address are held to the same step
  past ``REGISTRATIONS_PER_ADDRESS``.

A refresh with a valid token is never counted; an invalid one counts as a failure of the
address. Counts live in the cache; when it cannot be reached sign-in fails closed
(``auth.unavailable``, 503): a guesser is never let through because the counter is down.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions

from plumbing.api import client_address
from plumbing.errors import DomainError

from .identity import normalise_phone


def _account(phone: str) -> str:
    try:
        phone = normalise_phone(phone)
    except DomainError:
        pass  # refused by the view anyway; counted under what was sent
    return hashlib.sha256(phone.encode()).hexdigest()[:32]


def _window() -> tuple[int, int]:
    """This window's number and the seconds left in it."""
    size = settings.SIGNIN_WINDOW_SECONDS
    now = int(time.time())
    return now // size, size - now % size


def _keys(request, phone: str | None) -> dict[str, str]:
    window, _ = _window()
    address = _address(request)
    keys = {"address": f"signin:{window}:a:{address}"}
    if phone is not None:
        account = _account(phone)
        keys["account"] = f"signin:{window}:u:{account}"
        keys["account_address"] = f"signin:{window}:ua:{account}:{address}"
    return keys


def _address(request) -> str:
    return hashlib.sha256(client_address(request).encode()).hexdigest()[:32]


def _bump(key: str) -> int:
    """Count one more under ``key`` for the rest of this window; the count."""
    try:
        if cache.add(key, 1, timeout=_window()[1] + 1):
            return 1
        return cache.incr(key)
    except ValueError:  # expired between add and incr: the next window has begun
        return 1
    except Exception:  # the cache client's own connection errors
        raise _unavailable() from None


def _unavailable() -> DomainError:
    return DomainError("auth.unavailable")


def _counts(keys: dict[str, str]) -> dict[str, int]:
    try:
        found = cache.get_many(list(keys.values()))
    except Exception:  # the cache client's own connection errors
        raise _unavailable() from None
    return {name: int(found.get(key, 0)) for name, key in keys.items()}


LIMITS = {
    "account_address": "SIGNIN_FAILURES_PER_ACCOUNT_ADDRESS",
    "account": "SIGNIN_FAILURES_PER_ACCOUNT",
}


def check(request, *, phone: str | None, challenge: str = "", nonce: str = "") -> None:
    """Before the password is checked: refuse (429) where this account has failed too often,
    and ask for a solved challenge where this address has."""
    counts = _counts(_keys(request, phone))
    for name, setting in LIMITS.items():
        if name in counts and counts[name] >= getattr(settings, setting):
            raise exceptions.Throttled(wait=_window()[1])
    if counts["address"] >= settings.SIGNIN_FAILURES_PER_ADDRESS:
        challenge_check(challenge, nonce)


def failed(request, *, phone: str | None) -> None:
    """Count one failure against the address, and the account where one was named."""
    for key in _keys(request, phone).values():
        _bump(key)


def registration_check(request, *, challenge: str = "", nonce: str = "") -> None:
    """Many registrations from one address need the challenge too; each one is counted."""
    if _bump(f"register:{_window()[0]}:a:{_address(request)}") > settings.REGISTRATIONS_PER_ADDRESS:
        challenge_check(challenge, nonce)


# --------------------------------------------------------------------------- the challenge


def challenge_issue() -> dict:
    """A proof of work (hashcash): find a ``nonce`` such that SHA-256 of ``challenge:nonce`` has
    ``bits`` leading zero bits. Used once, within ``expires_in`` seconds."""
    challenge = secrets.token_hex(16)
    lifetime = settings.SIGNIN_CHALLENGE_SECONDS
    try:
        cache.set(f"signin-challenge:{challenge}", settings.SIGNIN_CHALLENGE_BITS, timeout=lifetime)
    except Exception:
        raise _unavailable() from None
    return {"challenge": challenge, "bits": settings.SIGNIN_CHALLENGE_BITS, "expires_in": lifetime}


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solve(challenge: str, bits: int) -> str:
    """What a client does (the app, and the tests): the first nonce that works."""
    n = 0
    while leading_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) < bits:
        n += 1
    return str(n)


def challenge_check(challenge: str, nonce: str) -> None:
    """A challenge this server issued, not used before, solved: else ``auth.challenge_required``
    (429), which tells the client to fetch one from ``/api/v1/auth/challenge``."""
    if not challenge or not nonce or len(challenge) > 64 or len(nonce) > 32:
        raise DomainError("auth.challenge_required")
    key = f"signin-challenge:{challenge}"
    try:
        bits = cache.get(key)
        if bits is None or not cache.delete(key):  # unknown, expired, or used by a racing call
            raise DomainError("auth.challenge_required")
    except DomainError:
        raise
    except Exception:
        raise _unavailable() from None
    if leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()) < bits:
        raise DomainError("auth.challenge_required")
