"""The audit row every state change writes, for cards and for holders."""

from __future__ import annotations

from django.db import transaction

from accounts.actors import Actor

from .models import AuditEvent

__all__ = ["Actor", "audit_record", "record_holder_change"]


def audit_record(
    *,
    action: str,
    by: Actor,
    card=None,
    holder=None,
    state_before: str | None = None,
    state_after: str | None = None,
    reason: str = "",
    data: dict | None = None,
    previous: tuple[str, str] | None = None,
) -> AuditEvent:
    """Write one audit row. ``data`` must not hold personal data (names, ID numbers, PINs);
    ``previous`` (a corrected name and ID number) is sealed in its own columns.

    For a card, the states default to its current one: most events change something else.
    """
    current = card.state if card is not None else ""
    state_before = current if state_before is None else state_before
    state_after = current if state_after is None else state_after
    return AuditEvent.objects.create(
        action=action,
        actor_kind=by.kind,
        actor=by.user if getattr(by.user, "pk", None) else None,  # type: ignore[misc]  # a User then
        actor_label=by.label[:150],
        channel=by.channel,
        card=card,
        holder=holder if holder is not None else getattr(card, "holder", None),
        state_before=state_before,
        state_after=state_after,
        reason=reason,
        data=data or {},
        agent_name=by.agent.name if by.agent else "",
        agent_id_type=by.agent.id_type if by.agent else "",
        agent_id_number=by.agent.id_number if by.agent else "",
        previous_name=previous[0] if previous else "",
        previous_id_number=previous[1] if previous else "",
    )


def record_holder_change(
    sender,
    *,
    holder,
    action: str,
    by: Actor,
    data: dict | None = None,
    previous: tuple[str, str] | None = None,
    **kwargs,
):
    """Receiver of ``accounts.signals.holder_changed``: the holder's change in the same trail,
    and the guardian a new link replaces is told (after the commit)."""
    audit_record(action=action, by=by, holder=holder, data=data, previous=previous)
    previous = (data or {}).get("previous")
    if action == "holder.guardian_set" and previous:
        from . import notices, signals
        from .models import ECard

        # What the guardian it replaces holds of the ward stops working: codes shown before
        # now, and the device certificates that let a phone sign the ward's codes offline.
        for ecard in ECard.objects.filter(card__holder=holder):
            signals.ecard_changed.send(sender=ECard, ecard=ecard, revoke_reason="guardian.link_ended")
        ward, masked = holder.pk, holder.name_masked
        transaction.on_commit(
            lambda: notices.notice_send(
                holder=previous,
                kind="guardian.replaced",
                subject=str(ward),
                params={"ward_name": masked},
            )
        )
