"""亲情账户: a holder shows an adult relative's codes, with the relative's consent.

The presenter invites a member by name and ID number; the member consents in their own
account with their e-card password, or at an outlet after a real-person check; either ends
the link at once. A member under HOLDER_GUARDIAN_AGE is a ward, not a family member.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.actors import Channel
from accounts.identity import normalise_id_number, person_key
from accounts.models import Holder
from accounts.realperson import real_person_check
from plumbing.errors import DomainError

from .. import notices, signals
from ..audit import Actor, audit_record
from ..models import Card, CardState, ECard, ECardChannel, FamilyLink, FamilyLinkState, FamilyRelationship
from ..selectors import ecard_get
from .binding import _identity_matches
from .ecards import ecard_check_password, ecard_issue

# What a presenter may show of a member: one gate pass is one person, so never transit. The
# offline verifier keeps its own copy (codes/verifier.py FAMILY_PURPOSES: a vendor's file
# imports nothing of the server's); tests/codes/test_formats_agree.py holds them equal.
FAMILY_PURPOSES = frozenset({"payment", "culture", "identity"})


def family_live_links(presenter: Holder) -> QuerySet[FamilyLink]:
    """Links that count towards FAMILY_MAX_MEMBERS: consented ones and invitations still open."""
    return FamilyLink.objects.filter(presenter=presenter).filter(
        Q(state=FamilyLinkState.ACTIVE) | Q(state=FamilyLinkState.INVITED, expires_at__gt=timezone.now())
    )


def _member_named(*, name: str, id_number: str) -> Holder:
    """The adult with an e-card these printed details name; the same refusal whatever is wrong,
    so that an invitation tells nobody whether a person holds a card."""
    number = (id_number or "").strip().upper()
    for holder in Holder.objects.filter(id_number_index=number):
        # A minor is a ward, never a family member: refused in the same words as a stranger.
        if (
            _identity_matches(holder, name=name, id_number=id_number)
            and not holder.is_minor()
            and _live_ecard(holder)
        ):
            return holder
    raise DomainError("family.member_not_found")


def _live_ecard(holder: Holder) -> ECard | None:
    """The member's e-card on a card not cancelled: the one whose codes a presenter shows."""
    return ECard.objects.filter(card__holder=holder).exclude(card__state=CardState.CANCELLED).first()


def _invitation(*, presenter: Holder, member: Holder, relationship: str, by: Actor) -> FamilyLink:
    """The link, invited now; one open or consented link per pair (the database says so)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            link = FamilyLink.objects.create(
                presenter=presenter,
                member=member,
                relationship=relationship,
                invited_at=now,
                expires_at=now + datetime.timedelta(days=settings.FAMILY_INVITATION_DAYS),
            )
    except IntegrityError:
        raise DomainError("family.already_linked") from None
    audit_record(
        action="family.invited",
        by=by,
        holder=member,
        data={"link": str(link.public_id), "presenter": presenter.pk, "relationship": relationship},
    )
    return link


@transaction.atomic
def family_invite(
    *, presenter: Holder, name: str, id_number: str, relationship: str, by: Actor
) -> FamilyLink:
    if relationship not in FamilyRelationship.values:
        raise DomainError("request.invalid", field="relationship", detail="relationship")
    # Counted under a lock on the presenter: two invitations at once cannot both be the fifth.
    presenter = Holder.objects.select_for_update().get(pk=presenter.pk)
    # The limit first: a full family is told so whoever it names, so the answer never depends
    # on whether the person named exists (lapsed invitations do not count).
    if family_live_links(presenter).count() >= settings.FAMILY_MAX_MEMBERS:
        raise DomainError("family.limit_reached", maximum=settings.FAMILY_MAX_MEMBERS)
    member = _member_named(name=name, id_number=id_number)
    if member.pk == presenter.pk:
        raise DomainError("family.oneself")
    # An invitation that lapsed is closed now, so that the pair may be invited again.
    FamilyLink.objects.filter(
        presenter=presenter, member=member, state=FamilyLinkState.INVITED, expires_at__lte=timezone.now()
    ).update(state=FamilyLinkState.ENDED, ended_at=timezone.now(), end_reason="invitation_expired")
    link = _invitation(presenter=presenter, member=member, relationship=relationship, by=by)
    notices.notice_send(
        holder=member,
        kind="family.invited",
        subject=str(link.public_id),
        params={
            "presenter": presenter.name_masked,
            "relationship": FamilyRelationship(relationship).label,
            "days": settings.FAMILY_INVITATION_DAYS,
        },
    )
    return link


def _pending(link: FamilyLink) -> FamilyLink:
    link = FamilyLink.objects.select_for_update().select_related("presenter", "member").get(pk=link.pk)
    if link.state != FamilyLinkState.INVITED:
        raise DomainError("family.invitation_not_pending")
    if link.invitation_lapsed():
        raise DomainError("family.invitation_expired")
    return link


def _announce(link: FamilyLink, *, ended: bool) -> None:
    ecard = _live_ecard(link.member)
    if ecard is not None:
        signals.family_changed.send(sender=FamilyLink, link=link, ecard=ecard, ended=ended)


def _consented(link: FamilyLink, *, channel: str, by: Actor) -> FamilyLink:
    link.state = FamilyLinkState.ACTIVE
    link.consented_at = timezone.now()
    link.consent_channel = channel
    link.save(update_fields=["state", "consented_at", "consent_channel"])
    _announce(link, ended=False)
    audit_record(action="family.consented", by=by, holder=link.member, data={"link": str(link.public_id)})
    notices.notice_send(
        holder=link.presenter,
        kind="family.consented",
        subject=str(link.public_id),
        params={"member": link.member.name_masked},
    )
    return link


@transaction.atomic
def family_accept(*, link: FamilyLink, member: Holder, password: str, by: Actor) -> FamilyLink:
    """The member consents in their own account, with their e-card password."""
    if link.member_id != member.pk:
        raise DomainError("family.not_found")
    link = _pending(link)
    ecard_check_password(ecard=ecard_get(holder=member), password=password)
    return _consented(link, channel=by.channel or Channel.APP, by=by)


@transaction.atomic
def family_consent_at_outlet(*, link: FamilyLink, identity_token: str, by: Actor) -> FamilyLink:
    """Staff record the consent of a member with no smartphone, present at the outlet and
    proven by a real-person check."""
    link = _pending(link)
    real_person_check(name=link.member.name, id_number=link.member.id_number, token=identity_token)
    return _consented(link, channel=Channel.OUTLET, by=by)


@transaction.atomic
def family_enrol_at_outlet(
    *,
    card: Card,
    presenter_id_type: str,
    presenter_id_number: str,
    relationship: str,
    password: str,
    identity_token: str,
    by: Actor,
) -> FamilyLink:
    """帮家人领卡 at the counter: a member with no smartphone, present and proven by the counter's
    real-person check, gets the e-card of their card issued here (its password typed on the
    counter's keypad) and joins the presenter's family account at once; the presenter shows the
    member's codes from their own app. The presenter is named by ID number and needs an e-card."""
    if relationship not in FamilyRelationship.values:
        raise DomainError("request.invalid", field="relationship", detail="relationship")
    member = card.holder
    if member.is_minor():  # a ward is shown by a guardian, not a family presenter
        raise DomainError("family.member_is_ward", age=settings.HOLDER_GUARDIAN_AGE)
    number, _ = normalise_id_number(presenter_id_type, presenter_id_number)
    presenter = Holder.objects.filter(person_key=person_key(presenter_id_type, number)).first()
    if presenter is None or presenter.is_minor() or _live_ecard(presenter) is None:
        raise DomainError("family.presenter_not_found", field="presenter_id_number")
    if presenter.pk == member.pk:
        raise DomainError("family.oneself")
    real_person_check(name=member.name, id_number=member.id_number, token=identity_token)
    presenter = Holder.objects.select_for_update().get(pk=presenter.pk)
    if family_live_links(presenter).count() >= settings.FAMILY_MAX_MEMBERS:
        raise DomainError("family.limit_reached", maximum=settings.FAMILY_MAX_MEMBERS)
    if _live_ecard(member) is None:
        ecard_issue(card=card, channel=ECardChannel.OUTLET, password=password, by=by)
    link = _invitation(presenter=presenter, member=member, relationship=relationship, by=by)
    return _consented(link, channel=Channel.OUTLET, by=by)


@transaction.atomic
def family_end(*, link: FamilyLink, by: Actor, reason: str) -> FamilyLink:
    """Either side ends the link at once; an invitation can be withdrawn or declined the same way."""
    link = FamilyLink.objects.select_for_update().select_related("presenter", "member").get(pk=link.pk)
    if link.state == FamilyLinkState.ENDED:
        raise DomainError("family.ended")
    was_active = link.state == FamilyLinkState.ACTIVE
    link.state = FamilyLinkState.ENDED
    link.ended_at = timezone.now()
    link.end_reason = reason
    link.save(update_fields=["state", "ended_at", "end_reason"])
    audit_record(
        action="family.ended", by=by, holder=link.member, reason=reason, data={"link": str(link.public_id)}
    )
    if was_active:
        _announce(link, ended=True)
        other, named = (
            (link.member, link.presenter)
            if reason.startswith("presenter_")
            else (link.presenter, link.member)
        )
        notices.notice_send(
            holder=other,
            kind="family.ended",
            subject=str(link.public_id),
            params={"other": named.name_masked},
        )
    return link
