"""Signing keys, scanner devices, scan records, revocations and scan-mode sessions."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SigningKey(models.Model):
    """A QR-code signing key's public half and its life: published, signing, verifying, retired.

    The private half never enters the database: it lives in ``QR_SIGNING_KEYS_DIR`` or the
    ``QR_SIGNING_PRIVATE_KEYS`` environment variable.
    """

    kid = models.CharField("密钥标识 / key id", max_length=8, unique=True)
    algorithm = models.CharField("算法 / algorithm", max_length=16, default="Ed25519")
    public_key = models.CharField("公钥 / public key (base64url)", max_length=200)
    created_at = models.DateTimeField("发布时间 / published at", default=timezone.now)
    activates_at = models.DateTimeField("开始签名 / signs from")
    deactivated_at = models.DateTimeField("停止签名 / signs until", null=True, blank=True)
    retires_at = models.DateTimeField("停止验证 / verifies until", null=True, blank=True)

    class Meta:
        verbose_name = "签名密钥 / signing key"
        verbose_name_plural = "签名密钥 / signing keys"
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
    TRANSIT_GATE = "transit_gate", "公交地铁闸机 / transit gate"
    CULTURE = "culture", "图书馆/博物馆/公园 / library, museum, park"
    MEDICAL = "medical", "医院/药店 / hospital, pharmacy"
    HR_COUNTER = "hr_counter", "人社窗口 / HR counter"


class ScannerDevice(models.Model):
    """A registered scanner. It signs its own JWTs with its own key; no secret is kept here."""

    device_id = models.CharField("设备号 / device id", max_length=32, unique=True)
    organisation = models.CharField("所属机构 / organisation (operator)", max_length=100)
    kind = models.CharField("类型 / kind", max_length=20, choices=ScannerKind.choices)
    purposes = models.JSONField("可受理用途 / purposes")
    public_key = models.CharField("设备公钥 / public key (base64url, Ed25519)", max_length=200)
    enabled = models.BooleanField("启用 / enabled", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField("最近在线 / last seen", null=True, blank=True)

    class Meta:
        verbose_name = "扫码设备 / scanner device"
        verbose_name_plural = "扫码设备 / scanner devices"

    def __str__(self) -> str:
        return f"{self.device_id} · {self.organisation}"


class ScanResult(models.TextChoices):
    ACCEPTED = "accepted", "通过"
    REJECTED = "rejected", "拒绝"


class ScanRecord(models.Model):
    """One verification, online or uploaded by an offline device."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    device = models.ForeignKey(ScannerDevice, on_delete=models.PROTECT, related_name="scans")
    ecard_reference = models.CharField(max_length=32, blank=True, db_index=True)
    purpose = models.CharField("用途 / purpose", max_length=16, blank=True)
    nonce = models.CharField(max_length=16, blank=True)
    result = models.CharField("结果 / result", max_length=10, choices=ScanResult.choices)
    reason = models.CharField("原因 / reason", max_length=40, blank=True)
    authorised_by_holder = models.BooleanField(default=False)
    offline = models.BooleanField("离线上传 / offline", default=False)
    replay = models.BooleanField("重复使用 / replay", default=False)
    scanned_at = models.DateTimeField("扫码时间 / scanned at", db_index=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "扫码记录 / scan record"
        verbose_name_plural = "扫码记录 / scan records"
        ordering = ["-scanned_at"]
        constraints = [
            # An offline device's upload retried is the same scan, not a second one.
            models.UniqueConstraint(
                fields=["device", "nonce"],
                condition=Q(offline=True),
                name="scan_offline_once_per_device",
            )
        ]
        indexes = [models.Index(fields=["nonce"], name="scan_nonce_idx")]

    def __str__(self) -> str:
        return f"{self.scanned_at:%Y-%m-%d %H:%M:%S} {self.purpose} {self.result}"


class Revocation(models.Model):
    """Codes of an e-card issued before ``not_before`` are refused; ``lifted`` undoes an entry.

    The id is the cursor offline devices sync by.
    """

    ecard_reference = models.CharField(max_length=32)
    not_before = models.DateTimeField()
    reason = models.CharField(max_length=40)
    lifted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "吊销记录 / revocation"
        verbose_name_plural = "吊销记录 / revocations"
        # A card snapshot reads the e-card's latest entry.
        indexes = [models.Index(fields=["ecard_reference", "-id"], name="revocation_ecard_latest_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.reason}{' (lifted)' if self.lifted else ''}"


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
        verbose_name = "主扫会话 / scan session"
        verbose_name_plural = "主扫会话 / scan sessions"

    def __str__(self) -> str:
        return self.session_id
