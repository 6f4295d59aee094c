"""Who may act for whom: the one place that answers it.

Every endpoint, admin action and job that acts on a holder's data, codes, card or agreements
asks here; nothing else decides it. The edges, and where each one comes from:

- **the holder** acts for themself: an account reaches the holder its e-card binding proved
  (``User.holder``), never one it names;
- **a guardian** acts for a ward while the ward is under ``HOLDER_GUARDIAN_AGE``, through a
  link staff recorded with the proof (the outlet's holder page, or the acceptance of an
  application whose proof they checked); an application's say-so never makes a link, and a
  link that replaces another tells the guardian it replaces;
- **a family presenter** shows a member's codes while the member's consent lasts (the member
  accepted with their own e-card password, or staff recorded it after a real-person check);
- **an outlet clerk** acts with an agent recorded where the rules ask for one (the services
  check ``Actor.agent``); an auditor only reads;
- **a payment provider** pays a holder's fares only under an agreement the holder confirmed in
  the app with the e-card password; a provider proposes, it never binds;
- **a scanner** verifies only the purposes its registration lists: ``codes`` hands the
  device's purposes to the verifier with every code (this app may not import ``codes``).

A request that names something outside these edges is answered as if it did not exist (404),
so the answer says nothing about whether it does.
"""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from accounts.models import Holder
from plumbing.errors import DomainError

from .models import CardApplication, FamilyLink, FamilyLinkState


def holder_for(user, *, ward: str | None = None) -> Holder:
    """The account's own holder, or a ward it guards today. Anything else is not found."""
    if user.holder_id is None:
        raise DomainError("ecard.not_found")
    if ward is None:
        return user.holder
    try:
        ward_id = uuid.UUID(str(ward))
    except ValueError:
        raise DomainError(
            "request.invalid", field="ward", detail="ward: a ward's id from /api/v1/wards"
        ) from None
    holder = Holder.objects.filter(public_id=ward_id, guardian_id=user.holder_id).first()
    # From the ward's 16th birthday, before the night's job has ended the link.
    if holder is None or not guards(user.holder, holder):
        raise DomainError("request.not_found")
    return holder


def guards(guardian: Holder | None, ward: Holder) -> bool:
    """A live guardian link: staff recorded it, and the ward is still under the age."""
    return guardian is not None and ward.guardian_id == guardian.pk and ward.is_minor()


def wards(user) -> list[Holder]:
    """The wards an account's holder still acts for: under 16 today."""
    holder = holder_for(user)
    return [ward for ward in holder.wards.order_by("id") if guards(holder, ward)]


def applications(user) -> QuerySet[CardApplication]:
    """The applications an account made for a holder it may still act for: its own holder's,
    a ward's while the link lasts, and those whose holder is not linked to it yet (a guardian's
    application waiting for staff to check the proof, which shows the application and nothing
    of the child)."""
    mine = CardApplication.objects.filter(_followed_by(user)).select_related("holder", "new_card")
    return mine.filter(pk__in=[a.pk for a in mine if _application_reachable(user, a)])


def _followed_by(user) -> Q:
    """The account's own applications, and those taken at a counter (no account) for its
    holder or a ward of its holder's."""
    made = Q(account=user)
    if user.holder_id is not None:
        made |= Q(account__isnull=True) & (
            Q(holder_id=user.holder_id) | Q(holder__guardian_id=user.holder_id)
        )
    return made


def _application_reachable(user, application: CardApplication) -> bool:
    if application.account_id is None:  # taken at a counter: the holder's, or a ward's
        return application.holder_id == user.holder_id or guards(user.holder, application.holder)
    if application.guardian_claim_pending:
        # Waiting for staff (or refused by them): the child is not this account's ward.
        return True
    if application.guardian_proof:  # made by a guardian for a child: while the link lasts
        return guards(user.holder, application.holder)
    # One's own, after a real-person check of the applicant; an account not bound yet follows
    # the application that will make its card.
    return user.holder_id in (None, application.holder_id)


def application_for(user, public_id) -> CardApplication:
    """One of the applications this account may follow (``applications``)."""
    try:
        application = CardApplication.objects.select_related("holder").get(
            _followed_by(user), public_id=uuid.UUID(str(public_id))
        )
    except (ValueError, CardApplication.DoesNotExist):
        raise DomainError("application.not_found") from None
    if not _application_reachable(user, application):
        raise DomainError("application.not_found")
    return application


def family_member_link(*, presenter: Holder, public_id) -> FamilyLink:
    """A member whose codes this presenter may show now: consented, not ended."""
    try:
        return FamilyLink.objects.select_related("presenter", "member").get(
            presenter=presenter, state=FamilyLinkState.ACTIVE, public_id=uuid.UUID(str(public_id))
        )
    except (ValueError, FamilyLink.DoesNotExist):
        raise DomainError("family.not_found") from None
