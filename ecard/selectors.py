"""Reads the API needs: a holder's things. Whose holder a request may reach is ``authority``'s."""

from __future__ import annotations

import uuid

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Holder
from plumbing.errors import DomainError

from . import authority
from .models import (
    OPEN_APPLICATION_STATES,
    Card,
    CardApplication,
    CardState,
    ECard,
    FamilyLink,
    FamilyLinkState,
    HolderAuthorisation,
    Notice,
    PaymentAgreement,
)


def ecard_get(*, holder: Holder) -> ECard:
    """The holder's e-card: the one on the card in their hands (collected and not cancelled)
    first — a card still being made in a new province, with its e-card issued at the
    application, is not the one they carry yet — then one on a live card, the newest otherwise."""
    ecard = (
        ECard.objects.select_related("card__holder")
        .filter(card__holder=holder)
        .annotate(
            cancelled=Case(
                When(card__state=CardState.CANCELLED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
            not_in_hand=Case(
                When(card__received_at__isnull=True, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .order_by("cancelled", "not_in_hand", "-issued_at")
        .first()
    )
    if ecard is None:
        raise DomainError("ecard.not_found")
    return ecard


def holder_cards(*, holder: Holder) -> QuerySet[Card]:
    """Every card of the holder not cancelled: a new one being made, one in another province."""
    return Card.objects.filter(holder=holder).exclude(state=CardState.CANCELLED).order_by("issued_on", "pk")


# The states of a card the holder may have in their hands (collected, then not lost or cancelled).
IN_HAND_STATES = (CardState.ACTIVE, CardState.SEALED)


def _collected_card(ecard: ECard, states: tuple[str, ...], **match) -> Card | None:
    """The e-card's own card when it is collected, in one of ``states`` and as ``match`` says,
    else the holder's newest collected card that is (a new province's, a replacement's)."""
    own = ecard.card
    if (
        own.received_at is not None
        and own.state in states
        and all(getattr(own, k) == v for k, v in match.items())
    ):
        return own
    return (
        holder_cards(holder=own.holder)
        .filter(state__in=states, received_at__isnull=False, **match)
        .order_by("-issued_on", "-pk")
        .first()
    )


def card_to_enable(*, ecard: ECard) -> Card:
    """The card 启用 applies to: a collected card still sealed (else the e-card's own, whose
    service then says why it cannot)."""
    if ecard.card.state == CardState.SEALED:
        return ecard.card  # not collected yet: card_enable says so
    return _collected_card(ecard, (CardState.SEALED,)) or ecard.card


def card_in_hand(*, ecard: ECard) -> Card:
    """The card in the holder's hands — the e-card's own while it is there, else a collected
    card not enabled yet, which the e-card moves to only once enabled (else the e-card's own,
    whose service says why not). 挂失 applies to it."""
    return _collected_card(ecard, IN_HAND_STATES) or ecard.card


def card_for_pin_change(*, ecard: ECard) -> Card:
    """The card a PIN change in the app applies to: of the cards in the holder's hands, the one
    still on its initial PIN (the counter's reset notice asks the holder to change it; a new
    card's first change enables it) — the e-card's own first — else the card in hand."""
    return _collected_card(ecard, IN_HAND_STATES, pin_is_initial=True) or card_in_hand(ecard=ecard)


def replacement_get(*, card: Card) -> Card | None:
    return Card.objects.filter(replaces=card).exclude(state=CardState.CANCELLED).first()


def authorisation_list(*, ecard: ECard) -> QuerySet[HolderAuthorisation]:
    return HolderAuthorisation.objects.filter(ecard=ecard)


def authorisation_get(*, ecard: ECard, public_id) -> HolderAuthorisation:
    try:
        return authorisation_list(ecard=ecard).get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, HolderAuthorisation.DoesNotExist):
        raise DomainError("authorisation.not_found") from None


def notice_list(*, user, ward: str | None = None) -> QuerySet[Notice]:
    """An account's inbox: its holder's notices and those addressed to the account itself
    (an account an e-card was moved away from still reads why); or a ward's notices."""
    if ward is not None:
        return Notice.objects.filter(holder=authority.holder_for(user, ward=ward), account__isnull=True)
    mine = Q(account=user)
    if user.holder_id is not None:
        mine |= Q(holder_id=user.holder_id, account__isnull=True)
    return Notice.objects.filter(mine)


def notice_get(*, user, ward: str | None = None, public_id) -> Notice:
    try:
        return notice_list(user=user, ward=ward).get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, Notice.DoesNotExist):
        raise DomainError("notice.not_found") from None


def payment_agreement_list(*, ecard: ECard) -> QuerySet[PaymentAgreement]:
    return (
        PaymentAgreement.objects.filter(ecard=ecard)
        .select_related("provider")
        .order_by(F("ended_at").desc(nulls_first=True), "-created_at")
    )


def payment_agreement_get(*, ecard: ECard, public_id) -> PaymentAgreement:
    try:
        return payment_agreement_list(ecard=ecard).get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, PaymentAgreement.DoesNotExist):
        raise DomainError("agreement.not_found") from None


def _link(queryset, public_id) -> FamilyLink:
    try:
        return queryset.select_related("presenter", "member").get(public_id=uuid.UUID(str(public_id)))
    except (ValueError, FamilyLink.DoesNotExist):
        raise DomainError("family.not_found") from None


def family_links(*, presenter: Holder) -> QuerySet[FamilyLink]:
    """The presenter's members: consented, invited (lapsed ones too, shown as expired)."""
    return (
        FamilyLink.objects.filter(presenter=presenter)
        .exclude(state=FamilyLinkState.ENDED)
        .select_related("member")
    )


def family_link_get(*, presenter: Holder, public_id) -> FamilyLink:
    return _link(family_links(presenter=presenter), public_id)


def family_invitations(*, member: Holder) -> QuerySet[FamilyLink]:
    """Invitations waiting for this member's consent."""
    return FamilyLink.objects.filter(
        member=member, state=FamilyLinkState.INVITED, expires_at__gt=timezone.now()
    ).select_related("presenter")


def family_invitation_get(*, member: Holder, public_id) -> FamilyLink:
    # A lapsed invitation is still found, so its refusal can say it expired.
    return _link(FamilyLink.objects.filter(member=member, state=FamilyLinkState.INVITED), public_id)


def family_presenters(*, member: Holder) -> QuerySet[FamilyLink]:
    """Who may show this member's codes now."""
    return FamilyLink.objects.filter(member=member, state=FamilyLinkState.ACTIVE).select_related("presenter")


def family_presenter_get(*, member: Holder, public_id) -> FamilyLink:
    # Pending invitations too: declining one is ending it before it began.
    return _link(FamilyLink.objects.filter(member=member).exclude(state=FamilyLinkState.ENDED), public_id)


def family_presenter_names(*, member: Holder) -> dict[str, str]:
    """Every presenter this member ever had, by the reference their codes carried: masked names."""
    links = FamilyLink.objects.filter(member=member).select_related("presenter")
    return {link.reference: link.presenter.name_masked for link in links}


def certificates_of(card: Card) -> QuerySet[CardApplication]:
    """The replacements of this card, or the one that made it, whose pick-up certificate the
    counter may print: every one taken at the counter or online, until the card is collected."""
    return CardApplication.objects.filter(
        Q(card=card) | Q(new_card=card), state__in=OPEN_APPLICATION_STATES, certificate_reference__gt=""
    ).order_by("-created_at")
