"""Issuing QR codes, scanners, verification, revocations, offline uploads and scan mode.

One module per sub-domain; callers use the names re-exported here
(``from codes import services``; ``services.verify_online(...)``). The card domain does
not call in here: ``codes.receivers`` listens to ``ecard.signals``.
"""

from .. import keys
from ..store import reset_store
from . import scanners, snapshots
from .devices import device_certificate_issue, device_certificate_revoke, device_certificates_revoke_all
from .issuing import IssuedCode, certificate_code, code_issue
from .revocations import (
    RevocationPage,
    card_changed,
    ecard_changed,
    family_changed,
    revocations_cursor,
    revocations_page,
    revocations_since,
)
from .scanners import (
    SCANNER_AUDIENCE,
    Device,
    scanner_authenticate,
    scanner_register,
    scanner_rotate_key,
    scanner_set_enabled,
)
from .sessions import SESSION_PREFIX, scan_session_confirm, scan_session_create
from .snapshots import snapshot_get, snapshot_refresh
from .uploads import scan_upload, upload_totals
from .verifying import Outcome, keys_verifier, scan_records_flush, verify_online


def reset_caches() -> None:
    """Forget every per-process cache (tests; a settings change)."""
    snapshots.forget()
    scanners.forget()
    keys.forget_cached_keys()
    reset_store()


__all__ = [
    "SCANNER_AUDIENCE",
    "SESSION_PREFIX",
    "Device",
    "IssuedCode",
    "Outcome",
    "RevocationPage",
    "card_changed",
    "certificate_code",
    "code_issue",
    "device_certificate_issue",
    "device_certificate_revoke",
    "device_certificates_revoke_all",
    "ecard_changed",
    "family_changed",
    "keys_verifier",
    "reset_caches",
    "revocations_cursor",
    "revocations_page",
    "revocations_since",
    "scan_records_flush",
    "scan_session_confirm",
    "scan_session_create",
    "scanner_authenticate",
    "scanner_register",
    "scanner_rotate_key",
    "scanner_set_enabled",
    "scan_upload",
    "snapshot_get",
    "snapshot_refresh",
    "upload_totals",
    "verify_online",
]
