"""Personal data at rest: sealed columns and blind indexes.

A sealed column holds ``<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``: AES-256-GCM under the
international profile, SM4-GCM under the national one (both from ``cryptography``), with the
column's name as associated data so a value cannot be moved to another column. The key id
beside each value lets keys rotate (``manage.py rotate_data_key``) while old values still
open. A leaked database or backup holds no name, ID number or phone.

Sealed values cannot be searched. What must be found by value (an ID number, a phone) also
has a blind index: HMAC-SHA256 (or HMAC-SM3) of the normalised value under an index key, so
equal values meet in a unique constraint or a B-tree lookup and nothing else is learned.

Keys live in settings or files, never in the database, like the signing keys:

- data keys: ``PII_DATA_KEYS=<id>:<algorithm>:<base64>,…`` or files ``<id>.key`` in
  ``PII_KEYS_DIR`` holding ``<algorithm>:<base64>``. Every key opens; the greatest id seals
  (ids are UTC times, so the newest key).
- the index key: ``PII_INDEX_KEY=<algorithm>:<base64>`` or the file ``index.key``. It is made
  once; changing it means re-indexing every row, so it is not rotated with the data keys.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models import Q
from django.db.models.lookups import Exact, Lookup
from django.utils.module_loading import import_string

NONCE_SIZE = 12
TAG_SIZE = 16
# What each profile makes new keys with.
PROFILE_CIPHERS = {"international": "aes-256-gcm", "national": "sm4-gcm"}
PROFILE_INDEXES = {"international": "hmac-sha256", "national": "hmac-sm3"}
KEY_SIZES = {"aes-256-gcm": 32, "sm4-gcm": 16, "hmac-sha256": 32, "hmac-sm3": 32}
# A data key's id: its UTC creation time to the microsecond, so the greatest is the newest.
KEY_ID = re.compile(r"k\d{20}")


class SealError(Exception):
    """A value that does not open: unknown key, or tampered with."""


# --------------------------------------------------------------------------- ciphers


def _aes_seal(key: bytes, nonce: bytes, plain: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plain, aad)


def _aes_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(nonce, sealed, aad)


def _sm4_seal(key: bytes, nonce: bytes, plain: bytes, aad: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    return encryptor.update(plain) + encryptor.finalize() + encryptor.tag


def _sm4_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-TAG_SIZE:])).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(sealed[:-TAG_SIZE]) + decryptor.finalize()


CIPHERS = {"aes-256-gcm": (_aes_seal, _aes_open), "sm4-gcm": (_sm4_seal, _sm4_open)}


def _hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


INDEXES = {
    "hmac-sha256": lambda key, data: hmac.new(key, data, hashlib.sha256).digest(),
    "hmac-sm3": _hmac_sm3,
}


# --------------------------------------------------------------------------- keys


def _parse(text: str, where: str, known: Iterable[str]) -> tuple[str, bytes]:
    algorithm, _, raw = text.strip().partition(":")
    if algorithm not in known:
        raise ImproperlyConfigured(f"{where}: algorithm {algorithm!r} is not one of {sorted(known)}")
    key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    if len(key) != KEY_SIZES[algorithm]:
        raise ImproperlyConfigured(f"{where}: an {algorithm} key is {KEY_SIZES[algorithm]} bytes")
    return algorithm, key


def new_key_text(algorithm: str) -> str:
    """A new random key as a key file or ``PII_DATA_KEYS`` entry writes it: ``algorithm:base64``."""
    return f"{algorithm}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZES[algorithm])).decode()}"


def _write_new(path: Path, algorithm: str) -> None:
    """A new random key file, never over an existing one (two processes may race here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key_text(algorithm) + "\n")


class Keys:
    """The data keys and the index key, as the settings and the key folder give them."""

    def __init__(self) -> None:
        directory = Path(settings.PII_KEYS_DIR)
        self.data: dict[str, tuple[str, bytes]] = {}
        for item in filter(None, (settings.PII_DATA_KEYS or "").split(",")):
            kid, _, rest = item.strip().partition(":")
            if not KEY_ID.fullmatch(kid):
                raise ImproperlyConfigured(f"PII_DATA_KEYS: {kid!r} is not a key id like {new_key_id()}")
            self.data[kid] = _parse(rest, f"PII_DATA_KEYS {kid}", CIPHERS)
        if directory.is_dir():
            for path in directory.glob("*.key"):
                if KEY_ID.fullmatch(path.stem):
                    self.data.setdefault(path.stem, _parse(path.read_text(), str(path), CIPHERS))
        self.index: tuple[str, bytes] | None
        if settings.PII_INDEX_KEY:
            self.index = _parse(settings.PII_INDEX_KEY, "PII_INDEX_KEY", INDEXES)
        elif (directory / "index.key").is_file():
            self.index = _parse((directory / "index.key").read_text(), "index.key", INDEXES)
        else:
            self.index = None
        self.current: str | None = max(self.data) if self.data else None


_lock = threading.Lock()
_keys: Keys | None = None


def keys(*, reload: bool = False) -> Keys:
    """The keys, read once per process; made on first use where ``PII_GENERATE_KEYS`` allows."""
    global _keys
    if _keys is not None and not reload:
        return _keys
    with _lock:
        found = Keys()
        if found.current is None or found.index is None:
            if not settings.PII_GENERATE_KEYS:
                raise ImproperlyConfigured(
                    "no personal-data keys: set PII_DATA_KEYS and PII_INDEX_KEY or fill PII_KEYS_DIR "
                    "(manage.py rotate_data_key --new-key makes a data key)"
                )
            directory = Path(settings.PII_KEYS_DIR)
            if found.index is None:
                try:
                    _write_new(directory / "index.key", PROFILE_INDEXES[settings.CRYPTO_PROFILE])
                except FileExistsError:
                    pass  # another process made it a moment ago: use that one
            if found.current is None:
                data_key_new()
            found = Keys()
        _keys = found
        return found


def new_key_id() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("k%Y%m%d%H%M%S%f")


def data_key_new() -> str:
    """A new data key file in ``PII_KEYS_DIR``, with the profile's cipher; it seals from now on."""
    kid = new_key_id()
    _write_new(Path(settings.PII_KEYS_DIR) / f"{kid}.key", PROFILE_CIPHERS[settings.CRYPTO_PROFILE])
    forget_keys()
    return kid


def current_key_id(found: Keys) -> str:
    """The key new values are sealed with; ``keys()`` makes one where it may."""
    if found.current is None:
        raise ImproperlyConfigured("no personal-data key: set PII_DATA_KEYS or mount PII_KEYS_DIR")
    return found.current


def forget_keys(**kwargs: Any) -> None:
    global _keys
    _keys = None


setting_changed.connect(forget_keys)


# --------------------------------------------------------------------------- values


def _seal(plain: bytes, context: str) -> tuple[str, bytes]:
    found = keys()
    kid = current_key_id(found)
    algorithm, key = found.data[kid]
    nonce = secrets.token_bytes(NONCE_SIZE)
    return kid, nonce + CIPHERS[algorithm][0](key, nonce, plain, context.encode())


def _unseal(kid: str, blob: bytes, context: str) -> bytes:
    found = keys()
    if kid not in found.data:
        found = keys(reload=True)  # a key another process made since
        if kid not in found.data:
            raise SealError(f"{context}: no data key {kid}")
    algorithm, key = found.data[kid]
    try:
        return CIPHERS[algorithm][1](key, blob[:NONCE_SIZE], blob[NONCE_SIZE:], context.encode())
    except InvalidTag:
        raise SealError(f"{context}: a value under key {kid} does not open") from None


def seal(plain: str, column: str) -> str:
    """``<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`` under the current data key."""
    kid, blob = _seal(plain.encode(), column)
    return f"{kid}:{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"


def unseal(stored: str, column: str) -> str:
    kid, _, text = stored.partition(":")
    return _unseal(kid, base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), column).decode()


def is_sealed(stored: str) -> bool:
    kid, sep, rest = stored.partition(":")
    return bool(sep) and len(rest) >= 38 and KEY_ID.fullmatch(kid) is not None


def key_of(stored: str | bytes) -> str:
    if isinstance(stored, bytes):
        return stored.partition(b":")[0].decode("ascii", "replace")
    return stored.partition(":")[0]


def seal_bytes(plain: bytes, context: str) -> bytes:
    """A file's bytes sealed: ``<key id>:`` then nonce ‖ ciphertext ‖ tag."""
    kid, blob = _seal(plain, context)
    return kid.encode() + b":" + blob


def unseal_bytes(stored: bytes, context: str) -> bytes:
    kid, _, blob = stored.partition(b":")
    return _unseal(kid.decode("ascii", "replace"), blob, context)


class Digest(str):
    """A blind index as read from the database: saved back as it is, never hashed again."""


def blind_index(value: str) -> Digest:
    index = keys().index
    if index is None:
        raise ImproperlyConfigured("no blind-index key: set PII_INDEX_KEY or mount PII_KEYS_DIR")
    algorithm, key = index
    return Digest(INDEXES[algorithm](key, value.encode()).hex())


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


# --------------------------------------------------------------------------- fields


class SealedField(models.TextField):
    """A text column stored sealed; Python sees the plain value. Empty stays empty (and
    ``None`` stays ``None``), so "no phone on file" is still visible; nothing else is.

    Only ``isnull``, ``= ""`` and ``__sealed_with=<key id>`` (for rotation) may be queried: a
    lookup by value goes through the column's blind index.
    """

    def _column(self) -> str:
        return f"{self.model._meta.label_lower}.{self.name}"

    def formfield(self, **kwargs: Any) -> Any:
        # A one-line value (a phone, a name): a text input, not the text area a TextField
        # gets (the admin's own included).
        from django import forms

        widget = kwargs.get("widget")
        if (
            widget is None
            or isinstance(widget, forms.Textarea)
            or (isinstance(widget, type) and issubclass(widget, forms.Textarea))
        ):
            kwargs["widget"] = forms.TextInput(attrs={"class": "vTextField"})
        return super().formfield(**kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value or not is_sealed(value):
            return value  # empty, or written before the migration that sealed the column
        return unseal(value, self._column())

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return seal(value, self._column())

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name in ("isnull", "sealed_with"):
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return EmptyExact
        raise FieldError(f"{self.name} is sealed: look it up through its blind index")


class EmptyExact(Exact):
    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None):
            raise FieldError(f"{self.lhs.target.name} is sealed: look it up through its blind index")
        return super().get_prep_lookup()


@SealedField.register_lookup
class SealedWith(Lookup):
    """Values sealed under a given data key (``name__sealed_with=kid``)."""

    lookup_name = "sealed_with"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> Any:
        return "%s", [f"{value}:%"]

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} LIKE {rhs}", [*lhs_params, *rhs_params]


class BlindIndexField(models.CharField):
    """The keyed hash of a value, for exact lookups and uniqueness.

    Given a plain value (assigned, or in a filter such as ``phone_index=phone``) it stores
    and compares that value's index; read back it is a ``Digest``, which is kept as it is.
    ``source`` names the model field it follows on every save (``phone_index`` follows
    ``phone``), ``transform`` the dotted path of a function applied to it first (an ID
    number's masked form); without a source, the code that writes the row assigns it.
    """

    def __init__(
        self, *args: Any, source: str | None = None, transform: str | None = None, **kwargs: Any
    ) -> None:
        self.source = source
        self.transform = transform
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.source:
            kwargs["source"] = self.source
        if self.transform:
            kwargs["transform"] = self.transform
        if kwargs.get("max_length") == 64:
            del kwargs["max_length"]
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def followed(self, model_instance: models.Model) -> Any:
        """The plain value this index follows, from the row's source field."""
        value = getattr(model_instance, self.source or "")
        if value and self.transform:
            value = import_string(self.transform)(value)
        return value

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if self.source:
            value = self.followed(model_instance)
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value and _is_digest(value):
            return Digest(value)
        return value  # plain, written before the migration that indexed the column

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value or isinstance(value, Digest):
            return value
        return blind_index(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name in ("exact", "in", "isnull"):
            return super().get_lookup(lookup_name)
        raise FieldError(f"{self.name} is a blind index: only exact lookups")


# --------------------------------------------------------------------------- rotation


def sealed_models() -> list:
    """Every installed model with a sealed column."""
    from django.apps import apps

    return [m for m in apps.get_models() if any(isinstance(f, SealedField) for f in m._meta.concrete_fields)]


def _not_on(model: type[models.Model], kid: str) -> Q:
    """Rows with a value sealed under another key, or not sealed yet."""
    stale = Q()
    for field in model._meta.concrete_fields:
        if isinstance(field, SealedField):
            stale |= (
                ~Q(**{f"{field.name}__sealed_with": kid})
                & ~Q(**{field.name: ""})
                & Q(**{f"{field.name}__isnull": False})
            )
    return stale


def reseal_batch(model: Any, *, batch_size: int = 500) -> int:
    """Re-seal up to ``batch_size`` rows of ``model`` not yet under the current key (and
    recompute their blind indexes); the rows are locked meanwhile, so a concurrent change is
    neither lost nor overwritten. Returns how many; 0 when the model is done."""
    from django.db import transaction

    current = current_key_id(keys())
    fields = [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, (SealedField, BlindIndexField)) and not f.primary_key
    ]
    with transaction.atomic():
        rows = list(
            model._base_manager.filter(_not_on(model, current))
            .order_by("pk")
            .select_for_update()[:batch_size]
        )
        for row in rows:
            for field in fields:
                if isinstance(field, BlindIndexField) and field.source:
                    setattr(row, field.attname, field.followed(row))
        if rows:
            model._base_manager.bulk_update(rows, [f.name for f in fields])
    return len(rows)


def stale_rows(model: Any) -> int:
    count: int = model._base_manager.filter(_not_on(model, current_key_id(keys()))).count()
    return count
