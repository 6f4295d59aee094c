"""Every state change of a physical card or e-card: one function per transition.

Each transition runs in a transaction with the card row locked (``select_for_update``),
checks its rule, changes the state, writes an audit event and announces the change
(``ecard.signals``). A refused transition raises ``DomainError`` and changes nothing —
except a wrong PIN, whose failure count must survive the refusal (see ``pins``).

One module per sub-domain; callers use the names re-exported here
(``from ecard import services``; ``services.card_report_temporary_loss(...)``).
"""

from ..notices import notice_mark_read
from .applications import (
    application_advance,
    application_submit_new,
    application_submit_replacement,
    application_withdraw,
)
from .authorisations import authorisation_grant, authorisation_withdraw
from .binding import binding_challenge_create, ecard_apply
from .calendar import calendar_check, calendar_warning, calendar_year_entered
from .cards import (
    HOLDER_REASONS,
    RESERVED_REASONS,
    card_activate_financial,
    card_cancel,
    card_cancel_by_holder,
    card_create,
    card_enable,
    card_mark_received,
    default_valid_until,
)
from .corrections import card_correct_data, card_renew_photo
from .counter import application_new_at_counter, application_replace_at_counter
from .ecards import ecard_change_password, ecard_check_password, ecard_issue
from .family import (
    family_accept,
    family_consent_at_outlet,
    family_end,
    family_enrol_at_outlet,
    family_invite,
)
from .guardians import ward_came_of_age
from .losses import (
    card_lapse_temporary_loss,
    card_lift_loss,
    card_report_formal_loss,
    card_report_temporary_loss,
    formalisation_deadline_for,
)
from .payments import (
    agreement_confirm,
    agreement_end,
    agreement_propose,
    provider_authenticate,
    provider_register,
    provider_set_enabled,
)
from .pins import card_change_pin, card_check_pin, card_reset_pin, card_unlock_pin, validate_new_secret
from .replacements import card_apply_renewal, card_apply_replacement

__all__ = [
    "application_advance",
    "application_new_at_counter",
    "application_replace_at_counter",
    "application_submit_new",
    "application_submit_replacement",
    "application_withdraw",
    "agreement_confirm",
    "agreement_propose",
    "agreement_end",
    "provider_authenticate",
    "provider_register",
    "provider_set_enabled",
    "calendar_check",
    "family_accept",
    "family_consent_at_outlet",
    "family_end",
    "family_enrol_at_outlet",
    "family_invite",
    "calendar_warning",
    "calendar_year_entered",
    "HOLDER_REASONS",
    "RESERVED_REASONS",
    "authorisation_grant",
    "card_activate_financial",
    "authorisation_withdraw",
    "binding_challenge_create",
    "card_apply_renewal",
    "card_apply_replacement",
    "card_cancel",
    "card_cancel_by_holder",
    "card_correct_data",
    "card_renew_photo",
    "card_change_pin",
    "card_check_pin",
    "card_create",
    "card_enable",
    "card_lapse_temporary_loss",
    "card_lift_loss",
    "card_mark_received",
    "card_report_formal_loss",
    "card_report_temporary_loss",
    "card_reset_pin",
    "card_unlock_pin",
    "default_valid_until",
    "ecard_apply",
    "ecard_change_password",
    "ecard_check_password",
    "ecard_issue",
    "formalisation_deadline_for",
    "notice_mark_read",
    "validate_new_secret",
    "ward_came_of_age",
]
