"""Signing keys, scanner devices, scan records, revocations and scan-mode sessions."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SigningKey(models.Model):
    """A QR-code signing key's public half and its life: published, signing, verifying, retired.

    The private half never enters the database: it lives in ``QR_SIGNING_KEYS_DIR`` or the
    ``QR_SIGNING_PRIVATE_KEYS`` environment variable.
    """

    kid = models.CharField(_("密钥标识"), max_length=8, unique=True)
    algorithm = models.CharField(_("算法"), max_length=16, default="Ed25519")
    public_key = models.CharField(_("公钥"), max_length=200)
    created_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    activates_at = models.DateTimeField(_("开始签名"))
    deactivated_at = models.DateTimeField(_("停止签名"), null=True, blank=True)
    retires_at = models.DateTimeField(_("停止验证"), null=True, blank=True)

    class Meta:
        verbose_name = _("签名密钥")
        verbose_name_plural = _("签名密钥")
        ordering = ["-activates_at"]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm})"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.retires_at and now >= self.retires_at:
            return "retired"
        if now < self.activates_at:
            return "published"
        if self.deactivated_at and now >= self.deactivated_at:
            return "verifying"
        return "signing"


class ScannerKind(models.TextChoices):
    TRANSIT_GATE = "transit_gate", _("公交地铁闸机")
    CULTURE = "culture", _("图书馆/博物馆/公园")
    MEDICAL = "medical", _("医院/药店")
    HR_COUNTER = "hr_counter", _("人社窗口")


class ScannerDevice(models.Model):
    """A registered scanner. It signs its own JWTs with its own key; no secret is kept here."""

    device_id = models.CharField(_("设备号"), max_length=32, unique=True)
    organisation = models.CharField(_("所属机构"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=ScannerKind.choices)
    purposes = models.JSONField(_("可受理用途"))
    public_key = models.CharField(_("设备公钥"), max_length=200)
    enabled = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(_("最近在线"), null=True, blank=True)

    class Meta:
        verbose_name = _("扫码设备")
        verbose_name_plural = _("扫码设备")

    def __str__(self) -> str:
        return f"{self.device_id} · {self.organisation}"


class ScanResult(models.TextChoices):
    ACCEPTED = "accepted", _("通过")
    REJECTED = "rejected", _("拒绝")


class ScanRecord(models.Model):
    """One verification, online or uploaded by an offline device.

    On PostgreSQL the table is partitioned by day (``codes.services.partitions``); its
    primary key there is (id, scanned_at).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    device = models.ForeignKey(ScannerDevice, on_delete=models.PROTECT, related_name="scans")
    ecard_reference = models.CharField(max_length=32, blank=True)
    purpose = models.CharField(_("用途"), max_length=16, blank=True)
    nonce = models.CharField(max_length=16, blank=True)
    result = models.CharField(_("结果"), max_length=10, choices=ScanResult.choices)
    reason = models.CharField(_("原因"), max_length=40, blank=True)
    authorised_by_holder = models.BooleanField(default=False)
    # A family member's code: the family link reference of who showed it (docs/qr-format.md).
    presenter = models.CharField(_("代为出示"), max_length=8, blank=True)
    offline = models.BooleanField(_("离线上传"), default=False)
    replay = models.BooleanField(_("重复使用"), default=False)
    scanned_at = models.DateTimeField(_("扫码时间"), db_index=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("扫码记录")
        verbose_name_plural = _("扫码记录")
        ordering = ["-scanned_at"]
        constraints = [
            # An offline device's upload retried is the same scan, not a second one. With the
            # day in it, because on PostgreSQL the table is partitioned by scanned_at (a unique
            # index there must hold the partition key); a retry carries the same time.
            models.UniqueConstraint(
                fields=["device", "nonce", "scanned_at"],
                condition=Q(offline=True),
                name="scan_offline_once_per_device",
            )
        ]
        indexes = [
            models.Index(fields=["nonce"], name="scan_nonce_idx"),
            # A holder's usage, newest first: one index scan per partition, merged.
            models.Index(fields=["ecard_reference", "-scanned_at"], name="scan_ecard_latest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scanned_at:%Y-%m-%d %H:%M:%S} {self.purpose} {self.result}"


class Revocation(models.Model):
    """Codes of an e-card issued before ``not_before`` are refused; ``lifted`` undoes an entry.

    The id is the cursor offline devices sync by.
    """

    ecard_reference = models.CharField(max_length=32)
    # Set: only the codes this family presenter shows are refused (a member ended consent).
    presenter = models.CharField(max_length=8, blank=True)
    # Set: every code of this device certificate is refused, whatever time it carries.
    serial = models.PositiveBigIntegerField(null=True, blank=True)
    not_before = models.DateTimeField()
    reason = models.CharField(max_length=40)
    lifted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("吊销记录")
        verbose_name_plural = _("吊销记录")
        # A card snapshot reads the e-card's latest entry.
        indexes = [models.Index(fields=["ecard_reference", "-id"], name="revocation_ecard_latest_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason}{' (lifted)' if self.lifted else ''}"

    @classmethod
    def of_the_reference(cls, reference: str):
        """Every entry that revokes all of an e-card's codes issued before it, the card's own
        state changes included (as the offline gates apply them)."""
        return cls.objects.filter(ecard_reference=reference, presenter="", serial__isnull=True)

    @classmethod
    def of_every_code(cls, reference: str):
        """The entries that revoke every code of an e-card issued before them (a password
        change, a guardian's link ending, an ended agreement): not a device certificate's, a
        family presenter's, or the card's own state changes, which the matrix judges."""
        return cls.of_the_reference(reference).exclude(reason__startswith="card.")


class SnapshotChange(models.Model):
    """A change to what a scan must know of an e-card, written in the change's transaction.

    The shared store is told of each change after it commits; when it cannot be (Redis down,
    a message lost), an old snapshot may live on there for its lifetime. Every process reads
    these rows about once a second and will not use a snapshot built before a change it has
    seen (``codes.services.snapshots``). Kept for a day (housekeeping)."""

    ecard_reference = models.CharField(max_length=32)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("卡状态变更")
        verbose_name_plural = _("卡状态变更")

    def __str__(self) -> str:
        return f"#{self.pk} {self.at:%Y-%m-%d %H:%M:%S}"


class ScanSession(models.Model):
    """Scan mode (主扫): a terminal shows this session's QR; the holder's app confirms it once."""

    session_id = models.CharField(max_length=32, unique=True)
    device = models.ForeignKey(ScannerDevice, on_delete=models.CASCADE, related_name="sessions")
    purpose = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    ecard = models.ForeignKey("ecard.ECard", null=True, blank=True, on_delete=models.SET_NULL)
    authorised_by_holder = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("主扫会话")
        verbose_name_plural = _("主扫会话")

    def __str__(self) -> str:
        return self.session_id


class DeviceCertificate(models.Model):
    """A phone's P-256 key, certified by the QR issuer key to sign an e-card's codes offline.

    The primary key is the certificate's serial (4 bytes in the certificate).
    """

    ecard = models.ForeignKey("ecard.ECard", on_delete=models.CASCADE, related_name="device_certificates")
    public_key = models.CharField(_("设备公钥"), max_length=66)  # hex of the compressed point
    purposes = models.JSONField(_("用途"))
    kid = models.CharField(max_length=8)
    not_before = models.DateTimeField(_("生效时间"))
    not_after = models.DateTimeField(_("失效时间"), db_index=True)
    certificate = models.TextField(editable=False)  # base64url, as the device got it
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoke_reason = models.CharField(_("吊销原因"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("设备证书")
        verbose_name_plural = _("设备证书")
        ordering = ["-not_before"]

    def __str__(self) -> str:
        return f"#{self.pk} until {self.not_after:%Y-%m-%d %H:%M}"

    def is_live(self, now=None) -> bool:
        return self.revoked_at is None and (now or timezone.now()) < self.not_after
