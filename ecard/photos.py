"""Card photos: decoded and checked with Pillow (never trusted by their name or type), saved
without EXIF (a phone's location and camera data are nobody's business), through Django's
storage API: local files by default, an S3-compatible bucket in production (README)."""

from __future__ import annotations

import io
import secrets

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from PIL import Image, UnidentifiedImageError

from plumbing import pii
from plumbing.errors import DomainError

MAX_BYTES = 2 * 1024 * 1024
MIN_SIZE = (358, 441)  # the ID photo, 26 × 32 mm at 350 dpi
FORMATS = {"JPEG": "jpg", "PNG": "png"}
# A phone camera's photo is ≈ 12 Mpx; anything larger is refused from its header, before a
# pixel is decoded (a 41 KB PNG can declare 42 Mpx, ≈ 126 MB once decoded).
MAX_PIXELS = 24_000_000
# Pillow's own bomb guard behind ours: it warns past this and refuses past twice this.
Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS


def photo_check(upload) -> tuple[bytes, str]:
    """The photo re-encoded without metadata, and its extension; or ``photo.invalid``."""
    if upload is None:
        raise DomainError("photo.required", field="photo")
    if upload.size > MAX_BYTES:
        raise DomainError("photo.too_large", field="photo", limit_mb=MAX_BYTES // (1024 * 1024))
    raw = upload.read(MAX_BYTES + 1)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            kind = image.format
            if kind not in FORMATS:
                raise DomainError("photo.invalid", field="photo")
            if image.width * image.height > MAX_PIXELS:
                raise DomainError("photo.too_many_pixels", field="photo", megapixels=MAX_PIXELS // 1_000_000)
            image.load()  # a truncated or forged file fails here, not later
            if image.width < MIN_SIZE[0] or image.height < MIN_SIZE[1]:
                raise DomainError("photo.too_small", field="photo", width=MIN_SIZE[0], height=MIN_SIZE[1])
            clean = image.convert("RGB") if kind == "JPEG" else image.copy()
            # Pillow writes what is left in ``info`` (a JPEG comment, a PNG's ICC profile, its
            # dpi, …) back out on save; only the pixels go.
            clean.info = {}
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError):
        raise DomainError("photo.invalid", field="photo") from None
    out = io.BytesIO()
    # Saved from pixels alone: no EXIF, no ICC profile, no comments go with it.
    clean.save(out, format=kind, **({"quality": 92} if kind == "JPEG" else {}))
    return out.getvalue(), FORMATS[kind]


PHOTO_CONTEXT = "ecard.cardapplication.photo"


def photo_store(content: bytes, extension: str) -> str:
    """Save it sealed (plumbing.pii: a face is personal data too) under a random name;
    returns the storage name."""
    sealed = pii.seal_bytes(content, PHOTO_CONTEXT)
    return storages["default"].save(f"photos/{secrets.token_hex(16)}.{extension}", ContentFile(sealed))


def photo_open(name: str) -> bytes:
    """A stored photo's image bytes, for the card maker."""
    with storages["default"].open(name, "rb") as handle:
        return pii.unseal_bytes(handle.read(), PHOTO_CONTEXT)


def _photo_resealed(name: str) -> str | None:
    """A copy of a stored photo sealed under the current data key (its storage name), or None
    when it is under that key already (told from the file's first bytes, the rest unread)."""
    prefix = f"{pii.keys().current}:".encode()
    with storages["default"].open(name, "rb") as handle:
        head = handle.read(len(prefix))
        if head == prefix:
            return None
        stored = head + handle.read()
    extension = name.rsplit(".", 1)[-1]
    return photo_store(pii.unseal_bytes(stored, PHOTO_CONTEXT), extension)


def photos_reseal(*, batch_size: int, batches: int | None = None) -> int:
    """Re-seal stored photos not under the current data key, ``batch_size`` applications at a
    time, at most ``batches`` of them; how many were re-sealed. Each row points at its new
    copy before the old file goes (if the row changed meanwhile, the copy goes instead), so
    a crash in between loses nothing."""
    from .models import CardApplication

    done = last = 0
    while batches is None or batches > 0:
        rows = list(CardApplication.objects.exclude(photo="").filter(pk__gt=last).order_by("pk")[:batch_size])
        if not rows:
            break
        for row in rows:
            copy = _photo_resealed(row.photo)
            if copy is None:
                continue
            moved = CardApplication.objects.filter(pk=row.pk, photo=row.photo).update(photo=copy)
            storages["default"].delete(row.photo if moved else copy)
            done += moved
        last = rows[-1].pk
        if batches is not None:
            batches -= 1
    return done
