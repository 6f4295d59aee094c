"""Scan mode (主扫): a terminal shows a session code, the holder's app confirms it."""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecard.audit import Actor, audit_record
from ecard.matrix import Verdict, card_services
from ecard.models import Card, ECard
from ecard.services import ecard_check_password
from plumbing.errors import DomainError

from ..models import ScanSession
from .issuing import live_grant
from .scanners import Device

SESSION_PREFIX = "ECS1:"


def scan_session_create(*, device: Device, purpose: str) -> ScanSession:
    if purpose not in device.purposes:
        raise DomainError("scanner.purpose_not_allowed", field="purpose")
    now = timezone.now()
    return ScanSession.objects.create(
        session_id=secrets.token_hex(12).upper(),
        device_id=device.pk,
        purpose=purpose,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=settings.SCAN_SESSION_SECONDS),
    )


def scan_session_confirm(
    *, ecard: ECard, text: str, password: str | None, authorisation_id: str | None, by: Actor
) -> ScanSession:
    """The holder confirms a terminal's session once, with the e-card password or a live grant."""
    if not isinstance(text, str) or not text.startswith(SESSION_PREFIX):
        raise DomainError("session.not_found")
    with transaction.atomic():
        session = (
            ScanSession.objects.select_for_update().filter(session_id=text[len(SESSION_PREFIX) :]).first()
        )
        if session is None:
            raise DomainError("session.not_found")
        if session.confirmed_at is not None:
            raise DomainError("session.already_confirmed")
        if timezone.now() >= session.expires_at:
            raise DomainError("session.expired")
        card = Card.objects.select_for_update().get(pk=ecard.card_id)
        answer = card_services(card)[session.purpose]
        authorised = False
        if answer.verdict == Verdict.DENIED:
            raise answer.refusal()
        grant = live_grant(ecard, session.purpose)
        if answer.verdict == Verdict.NEEDS_AUTHORISATION:
            if grant is None:
                raise DomainError("authorisation.required", purpose=session.purpose)
            authorised = True
        if password is not None:
            ecard_check_password(ecard=ecard, password=password)
        elif authorisation_id is None or grant is None or str(grant.public_id) != str(authorisation_id):
            raise DomainError("ecard.password_wrong", field="password")
        session.confirmed_at = timezone.now()
        session.ecard = ecard
        session.authorised_by_holder = authorised
        session.save(update_fields=["confirmed_at", "ecard", "authorised_by_holder"])
        audit_record(
            action="scan_session.confirmed",
            by=by,
            card=card,
            data={"session": session.session_id, "purpose": session.purpose},
        )
    return session
