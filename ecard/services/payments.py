"""Transit payment (乘车码): a bank or payment app confirms a holder's payment agreement by a
signed server-to-server call; a transit code needs a live one.

The agreement is the provider's to confirm, the holder's to end. Ending it stops transit at
once: the e-card's earlier codes are revoked and the card's state read by scanners loses its
payment method.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import ActorKind, Channel
from accounts.identity import normalise_id_number
from plumbing import assertions
from plumbing.errors import DomainError

from .. import notices, signals
from ..audit import Actor, audit_record
from ..models import Card, CardState, ECard, PaymentAgreement, PaymentMethod, PaymentProvider

PROVIDER_AUDIENCE = "ecard:provider"
_AGREEMENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def provider_register(*, name: str, public_key: str, by: Actor) -> PaymentProvider:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise DomainError("provider.name_required", field="name")
    try:
        key = assertions.load_public_key(public_key)
    except ValueError:
        raise DomainError("provider.public_key_invalid", field="public_key") from None
    provider = PaymentProvider.objects.create(
        provider_id="pp_" + secrets.token_hex(8), name=name, public_key=assertions.public_key_text(key)
    )
    audit_record(action="provider.registered", by=by, data={"provider": provider.provider_id})
    return provider


@transaction.atomic
def provider_set_enabled(*, provider: PaymentProvider, enabled: bool, by: Actor) -> PaymentProvider:
    provider.enabled = enabled
    provider.save(update_fields=["enabled"])
    audit_record(
        action="provider.enabled" if enabled else "provider.disabled",
        by=by,
        data={"provider": provider.provider_id},
    )
    return provider


def provider_actor(provider: PaymentProvider) -> Actor:
    return Actor(ActorKind.SYSTEM, Channel.BANK, None, f"provider:{provider.provider_id}")


def provider_authenticate(token: str) -> PaymentProvider:
    """The provider whose own key signed this bearer JWT (``aud`` = ``ecard:provider``)."""
    try:
        provider = PaymentProvider.objects.filter(provider_id=assertions.unverified_issuer(token)).first()
        if provider is None:
            raise DomainError("provider.token_invalid")
        assertions.verify(
            token,
            assertions.load_public_key(provider.public_key),
            issuer=provider.provider_id,
            audience=PROVIDER_AUDIENCE,
            skew=settings.QR_CLOCK_SKEW_SECONDS,
            max_lifetime=settings.SCANNER_ASSERTION_MAX_SECONDS,
        )
    except assertions.AssertionRefused as refused:
        raise DomainError(f"provider.token_{refused.why}") from None
    if not provider.enabled:
        raise DomainError("provider.disabled")
    return provider


def _ecard_for(card_number: str, id_number: str) -> ECard:
    """The e-card of the live card the provider names, with the holder's ID number as a check."""
    card = (
        Card.objects.select_related("holder")
        .filter(number=(card_number or "").strip().upper())
        .exclude(state=CardState.CANCELLED)
        .first()
    )
    try:
        matches = (
            card is not None
            and normalise_id_number(card.holder.id_type, id_number)[0] == card.holder.id_number
        )
    except DomainError:
        matches = False
    if not matches:
        raise DomainError("agreement.holder_mismatch")
    ecard = ECard.objects.filter(card=card).first()
    if ecard is None:
        raise DomainError("agreement.no_ecard")
    return ecard


def _set_transit(ecard: ECard) -> None:
    live = (
        PaymentAgreement.objects.filter(ecard=ecard, ended_at__isnull=True).select_related("provider").first()
    )
    ecard.transit_payment_method = live.provider.provider_id if live else ""
    ecard.save(update_fields=["transit_payment_method"])


def agreement_confirm(
    *,
    provider: PaymentProvider,
    agreement_id: str,
    card_number: str,
    id_number: str,
    method: str,
    account_masked: str = "",
) -> tuple[PaymentAgreement, bool]:
    """Record the provider's agreement once; the same call again returns it (created False).

    A new agreement replaces the e-card's earlier one: one payment method at a time.
    """
    if not _AGREEMENT_ID.fullmatch(agreement_id or ""):
        raise DomainError(
            "request.invalid", field="agreement_id", detail="agreement_id: 1–64 of A-Z a-z 0-9 . _ : -"
        )
    if method not in PaymentMethod.values:
        raise DomainError(
            "request.invalid", field="method", detail=f"method: one of {', '.join(PaymentMethod.values)}"
        )
    ecard = _ecard_for(card_number, id_number)
    if method == PaymentMethod.BANK_ACCOUNT and not ecard.card.financial_active:
        # The card's own bank account pays only once activated in person at the bank.
        raise DomainError("agreement.financial_inactive")
    by = provider_actor(provider)
    with transaction.atomic():
        ecard = ECard.objects.select_for_update().select_related("card__holder").get(pk=ecard.pk)
        existing = PaymentAgreement.objects.filter(
            provider=provider, provider_agreement_id=agreement_id
        ).first()
        if existing is not None:
            if existing.ecard_id != ecard.pk:
                raise DomainError("agreement.id_reused", field="agreement_id")
            if not existing.live:
                raise DomainError("agreement.ended")
            return existing, False
        earlier = PaymentAgreement.objects.filter(ecard=ecard, ended_at__isnull=True)
        for agreement in earlier:
            _end(agreement, reason="replaced", by=by)
        try:
            with transaction.atomic():
                agreement = PaymentAgreement.objects.create(
                    provider=provider,
                    provider_agreement_id=agreement_id,
                    ecard=ecard,
                    method=method,
                    account_masked=(account_masked or "")[:32],
                )
        except IntegrityError:  # the same call racing itself: the first one stands
            raise DomainError("idempotency.in_progress", field="agreement_id") from None
        _set_transit(ecard)
        signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason=None)
        audit_record(
            action="payment.agreement_confirmed",
            by=by,
            card=ecard.card,
            data={"agreement": str(agreement.public_id), "provider": provider.provider_id, "method": method},
        )
        notices.notice_send(
            holder=ecard.card.holder_id,
            kind="payment.agreement_confirmed",
            subject=str(agreement.public_id),
            params=notices.card_params(ecard.card, provider=provider.name),
        )
    return agreement, True


def _end(agreement: PaymentAgreement, *, reason: str, by: Actor) -> None:
    agreement.ended_at = timezone.now()
    agreement.end_reason = reason
    agreement.save(update_fields=["ended_at", "end_reason"])
    audit_record(
        action="payment.agreement_ended",
        by=by,
        card=agreement.ecard.card,
        reason=reason,
        data={"agreement": str(agreement.public_id), "provider": agreement.provider.provider_id},
    )


@transaction.atomic
def agreement_end(*, agreement: PaymentAgreement, by: Actor) -> PaymentAgreement:
    """The holder ends it: no transit from now on, and transit codes already shown stop working."""
    agreement = (
        PaymentAgreement.objects.select_for_update()
        .select_related("ecard__card", "provider")
        .get(pk=agreement.pk)
    )
    if not agreement.live:
        raise DomainError("agreement.ended")
    _end(agreement, reason="ended_by_holder", by=by)
    _set_transit(agreement.ecard)
    # A revocation entry covers the e-card's earlier codes offline too; scanners online also
    # see the card's payment method gone.
    signals.ecard_changed.send(sender=ECard, ecard=agreement.ecard, revoke_reason="payment.agreement_ended")
    return agreement
