"""Transit payment (乘车码): a bank or payment app proposes a holder's payment agreement by a
signed server-to-server call; the holder confirms it in the app with the e-card password; a
transit code needs a confirmed one.

A provider holds what is printed on a card (its number, the holder's ID number), and so does
anyone who finds the card: that proves nothing. So a provider's call only proposes, and the
agreement waits for the holder (``AGREEMENT_PENDING_MINUTES``); until then it pays nothing and
replaces nothing. Whatever the provider names, it learns only "proposed" or one refusal that
does not say whether the card has an e-card or what state it is in. Each provider token is
good for one call (its ``jti``). Ending an agreement, by the holder, stops transit at once:
the e-card's earlier codes are revoked and the card's state read by scanners loses its
payment method.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.actors import ActorKind, Channel
from accounts.identity import normalise_id_number
from plumbing import assertions
from plumbing.errors import DomainError

from .. import notices, signals
from ..audit import Actor, audit_record
from ..models import Card, CardState, ECard, PaymentAgreement, PaymentMethod, PaymentProvider
from .ecards import ecard_check_password, lock_ecard

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


# Why an agreement ended without the holder, as the notice tells it.
ENDED_WITHOUT_HOLDER = {
    "provider_disabled": _("该支付机构已停止提供乘车码支付服务"),
    "financial_inactive": _("新卡的金融功能尚未激活，原银行账户不能用于新卡"),
    "card_cancelled": _("社保卡已注销"),
}


@transaction.atomic
def provider_set_enabled(*, provider: PaymentProvider, enabled: bool, by: Actor) -> PaymentProvider:
    """A provider switched off can no longer pay for anyone: its agreements end with it (a
    provider switched on again signs them anew, with each holder's confirmation)."""
    provider.enabled = enabled
    provider.save(update_fields=["enabled"])
    audit_record(
        action="provider.enabled" if enabled else "provider.disabled",
        by=by,
        data={"provider": provider.provider_id},
    )
    if not enabled:
        agreements = PaymentAgreement.objects.select_for_update().filter(
            provider=provider, ended_at__isnull=True
        )
        for agreement in agreements.select_related("ecard__card", "provider"):
            end_without_holder(agreement, reason="provider_disabled", by=by)
    return provider


def end_without_holder(agreement: PaymentAgreement, *, reason: str, by: Actor) -> None:
    """End an agreement whose funding is gone: no transit from now on, online or offline (a
    revocation entry), and the holder is told why and how to sign again."""
    was_live = agreement.live
    _end(agreement, reason=reason, by=by)
    if not was_live:
        return
    _set_transit(agreement.ecard)
    signals.ecard_changed.send(sender=ECard, ecard=agreement.ecard, revoke_reason="payment.agreement_ended")
    notices.notice_send(
        holder=agreement.ecard.card.holder_id,
        kind="payment.agreement_ended",
        subject=str(agreement.public_id),
        params=notices.card_params(
            agreement.ecard.card, provider=agreement.provider.name, why=ENDED_WITHOUT_HOLDER[reason]
        ),
    )


def agreements_end_with_card(ecard: ECard, *, by: Actor) -> None:
    """The e-card's last card was cancelled: no provider may charge it for transit again, and
    one still waiting for the holder's confirmation can no longer be confirmed."""
    open_ = PaymentAgreement.objects.select_for_update().filter(ecard=ecard, ended_at__isnull=True)
    for agreement in open_.select_related("ecard__card", "provider"):
        end_without_holder(agreement, reason="card_cancelled", by=by)


def agreements_follow_card(ecard: ECard, *, by: Actor) -> None:
    """The e-card moved to a new card: an agreement that pays from the old card's own bank
    account needs the new card's financial function, activated at the bank; until then it ends."""
    card = ecard.card
    if card.financial_active:
        return
    live = PaymentAgreement.objects.select_for_update().filter(
        ecard=ecard, ended_at__isnull=True, method=PaymentMethod.BANK_ACCOUNT
    )
    for agreement in live.select_related("ecard__card", "provider"):
        end_without_holder(agreement, reason="financial_inactive", by=by)


def provider_actor(provider: PaymentProvider) -> Actor:
    return Actor(ActorKind.SYSTEM, Channel.BANK, None, f"provider:{provider.provider_id}")


def provider_authenticate(token: str) -> PaymentProvider:
    """The provider whose own key signed this bearer JWT (``aud`` = ``ecard:provider``), once:
    a token seen before is refused, so a recorded call cannot be sent again with other data."""
    try:
        provider = PaymentProvider.objects.filter(provider_id=assertions.unverified_issuer(token)).first()
        if provider is None:
            raise DomainError("provider.token_invalid")
        claims = assertions.verify(
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
    assertions.use_once(
        f"provider:{provider.provider_id}",
        claims,
        lifetime=settings.SCANNER_ASSERTION_MAX_SECONDS + 2 * settings.QR_CLOCK_SKEW_SECONDS,
        replayed="provider.token_replayed",
    )
    return provider


def _ecard_for(card_number: str, id_number: str, method: str) -> ECard:
    """The e-card a provider may propose an agreement for: a card in service whose holder's ID
    number is the one given, with an e-card. Every other case is the same refusal, so the
    answer tells nobody holding printed data whether the card has an e-card or was lost."""
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
    if card is None or not matches:
        raise DomainError("agreement.holder_mismatch")
    if method == PaymentMethod.BANK_ACCOUNT and not card.financial_active:
        # The card's own bank account pays only once activated in person at the bank: the
        # bank that activated it knows that already.
        raise DomainError("agreement.financial_inactive")
    ecard = ECard.objects.filter(card=card).first()
    if ecard is None or card.state != CardState.ACTIVE:
        raise DomainError("agreement.holder_mismatch")
    return ecard


def _set_transit(ecard: ECard) -> None:
    live = (
        PaymentAgreement.objects.filter(ecard=ecard, ended_at__isnull=True, confirmed_at__isnull=False)
        .select_related("provider")
        .first()
    )
    ecard.transit_payment_method = live.provider.provider_id if live else ""
    ecard.save(update_fields=["transit_payment_method"])


def agreement_propose(
    *,
    provider: PaymentProvider,
    agreement_id: str,
    card_number: str,
    id_number: str,
    method: str,
    account_masked: str = "",
) -> tuple[PaymentAgreement, bool]:
    """Record the provider's proposal once; the same call again returns it as it is now
    (created False). It pays nothing until the holder confirms it (``agreement_confirm``)."""
    if not _AGREEMENT_ID.fullmatch(agreement_id or ""):
        raise DomainError(
            "request.invalid", field="agreement_id", detail="agreement_id: 1–64 of A-Z a-z 0-9 . _ : -"
        )
    if method not in PaymentMethod.values:
        raise DomainError(
            "request.invalid", field="method", detail=f"method: one of {', '.join(PaymentMethod.values)}"
        )
    ecard = _ecard_for(card_number, id_number, method)
    by = provider_actor(provider)
    with transaction.atomic():
        ecard = lock_ecard(ecard.pk)
        existing = PaymentAgreement.objects.filter(
            provider=provider, provider_agreement_id=agreement_id
        ).first()
        if existing is not None:
            if existing.ecard_id != ecard.pk:
                raise DomainError("agreement.id_reused", field="agreement_id")
            if existing.ended_at is not None:
                raise DomainError("agreement.ended")
            return existing, False
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
        audit_record(
            action="payment.agreement_proposed",
            by=by,
            card=ecard.card,
            data={"agreement": str(agreement.public_id), "provider": provider.provider_id, "method": method},
        )
        notices.notice_send(
            holder=ecard.card.holder_id,
            kind="payment.agreement_proposed",
            subject=str(agreement.public_id),
            params=notices.card_params(
                ecard.card, provider=provider.name, minutes=settings.AGREEMENT_PENDING_MINUTES
            ),
        )
    return agreement, True


@transaction.atomic
def agreement_confirm(*, agreement: PaymentAgreement, password: str, by: Actor) -> PaymentAgreement:
    """The holder confirms a provider's proposal with the e-card password: from now on it pays
    the holder's fares, and it replaces the e-card's earlier agreement (one at a time)."""
    ecard = lock_ecard(agreement.ecard_id)
    agreement = PaymentAgreement.objects.select_for_update().select_related("provider").get(pk=agreement.pk)
    ecard_check_password(ecard=ecard, password=password)
    if agreement.ended_at is not None:
        raise DomainError("agreement.ended")
    if agreement.confirmed_at is not None:
        return agreement
    if agreement.lapsed:
        raise DomainError("agreement.lapsed")
    if not agreement.provider.enabled:
        raise DomainError("provider.disabled")
    if ecard.card.state != CardState.ACTIVE:
        raise DomainError("card.not_active", state=ecard.card.get_state_display())
    for earlier in PaymentAgreement.objects.filter(
        ecard=ecard, ended_at__isnull=True, confirmed_at__isnull=False
    ).select_related("provider"):
        _end(earlier, reason="replaced", by=by)
    agreement.confirmed_at = timezone.now()
    agreement.save(update_fields=["confirmed_at"])
    _set_transit(ecard)
    signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason=None)
    audit_record(
        action="payment.agreement_confirmed",
        by=by,
        card=ecard.card,
        data={"agreement": str(agreement.public_id), "provider": agreement.provider.provider_id},
    )
    notices.notice_send(
        holder=ecard.card.holder_id,
        kind="payment.agreement_confirmed",
        subject=str(agreement.public_id),
        params=notices.card_params(ecard.card, provider=agreement.provider.name),
    )
    return agreement


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
    if agreement.ended_at is not None:
        raise DomainError("agreement.ended")
    was_live = agreement.live
    _end(agreement, reason="ended_by_holder" if was_live else "declined_by_holder", by=by)
    if not was_live:  # a proposal declined: it never paid, nothing to revoke
        return agreement
    _set_transit(agreement.ecard)
    # A revocation entry covers the e-card's earlier codes offline too; scanners online also
    # see the card's payment method gone.
    signals.ecard_changed.send(sender=ECard, ecard=agreement.ecard, revoke_reason="payment.agreement_ended")
    return agreement
