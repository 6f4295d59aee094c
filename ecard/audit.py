"""Who did a thing, and the audit row every state change writes."""

from __future__ import annotations

import dataclasses

from .models import ActorKind, AuditEvent, Channel


@dataclasses.dataclass(frozen=True)
class Actor:
    kind: str
    channel: str
    user: object | None = None
    label: str = ""

    @classmethod
    def system(cls, task: str = "") -> Actor:
        return cls(ActorKind.SYSTEM, Channel.SYSTEM, None, f"system:{task}" if task else "system")

    @classmethod
    def staff(cls, user, channel: str = Channel.OUTLET) -> Actor:
        return cls(ActorKind.STAFF, channel, user, user.get_username())

    @classmethod
    def holder(cls, user=None, channel: str = Channel.APP) -> Actor:
        return cls(ActorKind.HOLDER, channel, user, user.get_username() if user else "holder")

    @classmethod
    def importer(cls, label: str = "import_cards") -> Actor:
        return cls(ActorKind.SYSTEM, Channel.IMPORT, None, label)


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
) -> AuditEvent:
    """Write one audit row. ``data`` must not hold personal data (names, ID numbers, PINs).

    For a card, the states default to its current one: most events change something else.
    """
    current = card.state if card is not None else ""
    state_before = current if state_before is None else state_before
    state_after = current if state_after is None else state_after
    return AuditEvent.objects.create(
        action=action,
        actor_kind=by.kind,
        actor=by.user if getattr(by.user, "pk", None) else None,
        actor_label=by.label[:150],
        channel=by.channel,
        card=card,
        holder=holder if holder is not None else getattr(card, "holder", None),
        state_before=state_before,
        state_after=state_after,
        reason=reason,
        data=data or {},
    )
