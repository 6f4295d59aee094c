import datetime
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from plumbing.pii import BlindIndexField, SealedField

from .identity import IdType, mask_id_number, mask_name, mask_phone


class User(AbstractUser):
    """A login: outlet staff (``is_staff``) or a holder's app account (phone + password).

    An app account is bound to a holder only by proving the card (the e-card application).
    """

    # The login phone, sealed (plumbing.pii); the username of an app account is not the phone.
    phone = SealedField(_("手机号"), max_length=20, null=True, blank=True)
    phone_index = BlindIndexField(source="phone", unique=True, null=True, blank=True)
    holder = models.OneToOneField(
        "accounts.Holder",
        verbose_name=_("持卡人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="account",
    )

    @staticmethod
    def app_username() -> str:
        """An app account's username: opaque, since the phone it signs in with is sealed."""
        return f"app_{secrets.token_hex(8)}"


class GuardianProof(models.TextChoices):
    BIRTH_CERTIFICATE = "birth_certificate", _("出生医学证明")
    HOUSEHOLD_REGISTER = "household_register", _("户口簿")


class Holder(models.Model):
    """The person a card belongs to (持卡人 / 参保人)."""

    # What the API calls a holder by (e.g. a guardian choosing a ward): never the row id.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Name, ID number and phone are sealed at rest (plumbing.pii); what is looked up by value
    # has a blind index beside it.
    name = SealedField(_("姓名"), max_length=100)
    id_type = models.CharField(
        _("证件类型"), max_length=32, choices=IdType.choices, default=IdType.RESIDENT_ID
    )
    id_number = SealedField(_("证件号码"), max_length=32)
    id_number_index = BlindIndexField(source="id_number", db_index=True, default="")
    # What the admin shows (1101**********0021), so staff can find a holder by it.
    id_number_masked_index = BlindIndexField(
        source="id_number", transform="accounts.identity.mask_id_number", db_index=True, default=""
    )
    # One person, one holder: the citizen number whatever the document label (identity.person_key),
    # as a blind index: assign the plain key, the column holds its keyed hash.
    person_key = BlindIndexField(unique=True)
    date_of_birth = models.DateField(_("出生日期"), null=True, blank=True)
    phone = SealedField(_("手机号"), max_length=20, blank=True)
    phone_index = BlindIndexField(source="phone", blank=True, db_index=True, default="")
    guardian = models.ForeignKey(
        "self",
        verbose_name=_("监护人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wards",
    )
    guardian_proof = models.CharField(
        _("监护关系证明"),
        max_length=32,
        choices=GuardianProof.choices,
        blank=True,
    )
    # The photo on file (the card centre's): what a real-person check compares the face with,
    # and what the next card is printed with. A storage name (ecard.photos), never a URL.
    photo = models.CharField(_("照片"), max_length=200, blank=True, editable=False)
    photo_taken_at = models.DateTimeField(_("照片采集时间"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("持卡人")
        verbose_name_plural = _("持卡人")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(guardian__isnull=True) | ~models.Q(guardian_proof=""),
                name="holder_guardian_has_proof",
            ),
        ]
        permissions = [("view_full_id_number", _("可查看完整证件号码"))]

    def __str__(self) -> str:
        return f"{self.name_masked} ({self.id_number_masked})"

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def name_masked(self) -> str:
        return mask_name(self.name)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    def age_on(self, day: datetime.date) -> int | None:
        if not self.date_of_birth:
            return None
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def is_minor(self, day: datetime.date | None = None) -> bool:
        age = self.age_on(day or timezone.localdate())
        return age is not None and age < settings.HOLDER_GUARDIAN_AGE


class TokenFamily(models.Model):
    """One login session: the chain of refresh tokens rotated from one sign-in."""

    id = models.UUIDField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("登录会话")
        verbose_name_plural = _("登录会话")

    def __str__(self) -> str:
        return f"session {str(self.pk)[:8]}"


class RefreshToken(models.Model):
    """A refresh token's record; ``used_at`` set once it has been rotated."""

    jti = models.CharField(max_length=32, primary_key=True)
    family = models.ForeignKey(TokenFamily, on_delete=models.CASCADE, related_name="refresh_tokens")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh {self.jti[:8]}"


class IdempotencyRecord(models.Model):
    """The first response to a write sent with an ``Idempotency-Key``, replayed on retries."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key_per_user")
        ]

    def __str__(self) -> str:
        return f"idempotency {self.key[:16]}"
