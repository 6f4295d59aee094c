"""Physical cards, e-cards, the audit trail and the working-day calendar overrides.

State changes happen only in ``ecard.services``; nothing here changes state.
"""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.actors import ActorKind, Channel
from accounts.identity import mask_card_number


class Region(models.TextChoices):
    """Issuing province (GB/T 2260 two-digit code)."""

    BEIJING = "11", "北京"
    TIANJIN = "12", "天津"
    HEBEI = "13", "河北"
    SHANXI = "14", "山西"
    INNER_MONGOLIA = "15", "内蒙古"
    LIAONING = "21", "辽宁"
    JILIN = "22", "吉林"
    HEILONGJIANG = "23", "黑龙江"
    SHANGHAI = "31", "上海"
    JIANGSU = "32", "江苏"
    ZHEJIANG = "33", "浙江"
    ANHUI = "34", "安徽"
    FUJIAN = "35", "福建"
    JIANGXI = "36", "江西"
    SHANDONG = "37", "山东"
    HENAN = "41", "河南"
    HUBEI = "42", "湖北"
    HUNAN = "43", "湖南"
    GUANGDONG = "44", "广东"
    GUANGXI = "45", "广西"
    HAINAN = "46", "海南"
    CHONGQING = "50", "重庆"
    SICHUAN = "51", "四川"
    GUIZHOU = "52", "贵州"
    YUNNAN = "53", "云南"
    TIBET = "54", "西藏"
    SHAANXI = "61", "陕西"
    GANSU = "62", "甘肃"
    QINGHAI = "63", "青海"
    NINGXIA = "64", "宁夏"
    XINJIANG = "65", "新疆"


class CardState(models.TextChoices):
    SEALED = "sealed", "封存"
    ACTIVE = "active", "正常"
    TEMPORARILY_LOST = "temporarily_lost", "临时挂失"
    LOST = "lost", "正式挂失"
    CANCELLED = "cancelled", "注销"


class CancellationReason(models.TextChoices):
    MOVED_OUT_OF_PROVINCE = "moved_out_of_province", "社保关系转移省外"
    EMIGRATED = "emigrated", "出国定居"
    DECEASED = "deceased", "死亡"
    DECLARED_MISSING_OR_DEAD = "declared_missing_or_dead", "宣告失踪或死亡"
    REPLACED = "replaced", "换卡注销"
    TRANSFERRED = "transferred", "转移（已在他省启用新卡）"
    APPLICATION_ENDED = "application_ended", "制卡申请撤回或未通过"
    DUPLICATE = "duplicate", "重复持卡"


class ReplacementKind(models.TextChoices):
    LOSS = "loss", "补领（挂失补卡）"
    RENEWAL = "renewal", "换领（有效期满）"
    DAMAGE = "damage", "换发（卡片损坏）"
    DATA_CHANGE = "data_change", "换发（信息变更）"


class Card(models.Model):
    """The physical chip card (实体社保卡)."""

    number = models.CharField("卡号 / card number", max_length=20, unique=True)
    holder = models.ForeignKey(
        "accounts.Holder",
        verbose_name="持卡人 / holder",
        on_delete=models.PROTECT,
        related_name="cards",
    )
    region = models.CharField("发卡省份 / region", max_length=2, choices=Region.choices)
    generation = models.PositiveSmallIntegerField("代别 / generation", default=3)
    issued_on = models.DateField("发卡日期 / issued on")
    received_at = models.DateTimeField("领卡时间 / received at", null=True, blank=True)
    valid_until = models.DateField("有效期至 / valid until", db_index=True)
    state = models.CharField(
        "状态 / state", max_length=20, choices=CardState.choices, default=CardState.SEALED
    )

    # The social-security PIN. While ``pin_is_initial`` the PIN is the configured initial
    # PIN, which is public knowledge anyway; that spares a slow hash per imported card.
    pin_hash = models.CharField(max_length=256, blank=True, editable=False)
    pin_is_initial = models.BooleanField("初始密码 / initial PIN", default=True, editable=False)
    pin_failures = models.PositiveSmallIntegerField("密码连续错误次数 / PIN failures", default=0)
    pin_locked = models.BooleanField("密码锁定 / PIN locked", default=False)
    financial_active = models.BooleanField("金融功能已激活 / financial function active", default=False)

    temporarily_lost_at = models.DateTimeField("临时挂失时间", null=True, blank=True)
    # What a lifted or lapsed temporary loss returns to: a sealed card stays sealed.
    lost_from_state = models.CharField(max_length=20, blank=True, editable=False)
    formalisation_deadline = models.DateTimeField(
        "临时挂失截止 / formalisation deadline", null=True, blank=True
    )
    # Counted over a year the holiday calendar does not know yet (weekends only): computed
    # again when staff enter that year.
    deadline_provisional = models.BooleanField("截止时间待定 / deadline provisional", default=False)
    lost_at = models.DateTimeField("正式挂失时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("注销时间", null=True, blank=True)
    cancellation_reason = models.CharField(
        "注销原因 / cancellation reason",
        max_length=32,
        choices=CancellationReason.choices,
        blank=True,
    )

    # Replacement: set on the old card when a new one is applied for, which also lifts it
    # out of the one-card-per-region constraint so the new card can exist beside it.
    replacement_applied_at = models.DateTimeField("申请补换卡时间", null=True, blank=True)
    # One live replacement per card; one cancelled while being made stays on record beside
    # the next (so not a one-to-one link).
    replaces = models.ForeignKey(
        "self",
        verbose_name="替换的旧卡 / replaces",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replacements",
    )
    replacement_kind = models.CharField(
        "补换类型 / replacement kind", max_length=16, choices=ReplacementKind.choices, blank=True
    )
    ready_on = models.DateField("可领卡日期 / ready for collection on", null=True, blank=True)
    ready_on_provisional = models.BooleanField("领卡日期待定 / ready-on provisional", default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "实体社保卡 / card"
        verbose_name_plural = "实体社保卡 / cards"
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "region"],
                condition=~Q(state="cancelled") & Q(replacement_applied_at__isnull=True),
                name="card_one_live_per_holder_region",
                violation_error_message="同一参保人在同一省份只能持有一张有效社保卡。",
            ),
            models.UniqueConstraint(
                fields=["replaces"],
                condition=~Q(state="cancelled"),
                name="card_one_live_replacement",
            ),
            models.CheckConstraint(condition=Q(state__in=CardState.values), name="card_state_valid"),
            models.CheckConstraint(
                condition=~Q(state="cancelled") | ~Q(cancellation_reason=""),
                name="card_cancelled_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(received_at__isnull=False) | ~Q(state="active"),
                name="card_active_was_received",
            ),
        ]
        indexes = [
            models.Index(
                fields=["formalisation_deadline"],
                condition=Q(state="temporarily_lost"),
                name="card_temp_loss_deadline_idx",
            ),
            models.Index(
                fields=["ready_on"],
                condition=Q(state="sealed", replaces__isnull=False),
                name="card_replacement_ready_idx",
            ),
        ]
        permissions = [
            ("operate_card", "可办理卡片业务 / Can operate cards"),
            ("cancel_card", "可注销卡片 / Can cancel cards"),
        ]

    def __str__(self) -> str:
        return f"{self.number_masked} · {self.get_state_display()}"

    @property
    def number_masked(self) -> str:
        return mask_card_number(self.number)

    @property
    def is_received(self) -> bool:
        return self.received_at is not None

    def is_expired(self, today: datetime.date | None = None) -> bool:
        return (today or timezone.localdate()) > self.valid_until

    def renewal_opens_on(self) -> datetime.date:
        return self.valid_until - datetime.timedelta(days=settings.CARD_RENEWAL_WINDOW_DAYS)

    def renewal_open(self, today: datetime.date | None = None) -> bool:
        return (today or timezone.localdate()) >= self.renewal_opens_on()


class ECardChannel(models.TextChoices):
    NATIONAL_APP = "national_app", "国家社会保险公共服务平台 / national app"
    WECHAT = "wechat", "微信小程序 / WeChat mini-program"
    ALIPAY = "alipay", "支付宝小程序 / Alipay mini-program"
    BANK_APP = "bank_app", "银行App / bank app"
    CITY_APP = "city_app", "城市服务App / city app"


class ECard(models.Model):
    """The e-card (电子社保卡): 1:1 with a physical card, moved to the new card on replacement."""

    card = models.OneToOneField(
        Card, verbose_name="实体卡 / card", on_delete=models.PROTECT, related_name="ecard"
    )
    # Opaque reference printed in QR codes instead of any personal data.
    reference = models.CharField("电子卡标识 / reference", max_length=32, unique=True)
    channel = models.CharField("签发渠道 / channel", max_length=20, choices=ECardChannel.choices)
    password_hash = models.CharField(max_length=256, editable=False)
    password_changed_at = models.DateTimeField("密码修改时间", default=timezone.now)
    transit_payment_method = models.CharField(
        "乘车码支付方式 / transit payment method", max_length=32, blank=True
    )
    issued_at = models.DateTimeField("签发时间 / issued at", auto_now_add=True)

    class Meta:
        verbose_name = "电子社保卡 / e-card"
        verbose_name_plural = "电子社保卡 / e-cards"

    def __str__(self) -> str:
        return f"e-card {self.reference[:8]}…"


class AuditEvent(models.Model):
    """One row per state change: who, through which channel, before and after, and why."""

    at = models.DateTimeField("时间 / at", default=timezone.now, db_index=True)
    action = models.CharField("操作 / action", max_length=64, db_index=True)
    actor_kind = models.CharField("操作方 / actor", max_length=10, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField("操作人 / actor label", max_length=150, blank=True)
    channel = models.CharField("渠道 / channel", max_length=20, choices=Channel.choices)
    holder = models.ForeignKey(
        "accounts.Holder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    card = models.ForeignKey(
        Card, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events"
    )
    state_before = models.CharField("变更前 / before", max_length=20, blank=True)
    state_after = models.CharField("变更后 / after", max_length=20, blank=True)
    reason = models.CharField("原因 / reason", max_length=64, blank=True)
    data = models.JSONField("详情 / data", default=dict, blank=True)
    # An agent acting for the holder at the outlet; shown in full only on the event's page.
    agent_name = models.CharField("代办人 / agent", max_length=100, blank=True)
    agent_id_type = models.CharField("代办人证件类型 / agent's ID type", max_length=32, blank=True)
    agent_id_number = models.CharField("代办人证件号码 / agent's ID number", max_length=32, blank=True)

    class Meta:
        verbose_name = "审计事件 / audit event"
        verbose_name_plural = "审计事件 / audit events"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}"


class CalendarYear(models.Model):
    """A year whose holidays and make-up workdays staff entered by hand.

    The working-day package only knows the years the State Council has published. Once a
    year is listed here, its days not listed below are ordinary (Mon–Fri work).
    """

    year = models.PositiveSmallIntegerField("年份 / year", unique=True)
    note = models.CharField("依据 / source", max_length=200, blank=True)

    class Meta:
        verbose_name = "节假日安排年份 / holiday schedule year"
        verbose_name_plural = "节假日安排 / holiday schedules"
        ordering = ["-year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A holiday or a make-up workday (调休) that overrides the package."""

    year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days")
    date = models.DateField("日期 / date", unique=True)
    is_workday = models.BooleanField("调休上班 / make-up workday", default=False)
    name = models.CharField("名称 / name", max_length=50, blank=True)

    class Meta:
        verbose_name = "节假日或调休日 / holiday or make-up workday"
        verbose_name_plural = "节假日或调休日 / holidays and make-up workdays"
        ordering = ["date"]

    def __str__(self) -> str:
        kind = "上班" if self.is_workday else "休息"
        return f"{self.date} {self.name} ({kind})"

    def clean(self):
        # The year may not be saved yet when its days are validated inline.
        year = self.year if self.year_id or "year" in self._state.fields_cache else None
        if year is not None and self.date and self.date.year != year.year:
            raise ValidationError({"date": f"日期须在{year.year}年内 / must fall in {year.year}"})


class HolderAuthorisation(models.Model):
    """经本人授权: the holder lets the e-card work for some purposes while the card is lost.

    Time-limited, withdrawable, and ended by the next change of the card's state.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ecard = models.ForeignKey(ECard, on_delete=models.CASCADE, related_name="authorisations")
    purposes = models.JSONField("用途 / purposes")
    card_state = models.CharField("授权时卡状态 / card state when granted", max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField("到期 / expires at")
    ended_at = models.DateTimeField("结束 / ended at", null=True, blank=True)
    end_reason = models.CharField(
        "结束原因 / end reason", max_length=20, blank=True
    )  # withdrawn, state_changed, password_changed

    class Meta:
        verbose_name = "本人授权 / holder authorisation"
        verbose_name_plural = "本人授权 / holder authorisations"
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["ecard", "expires_at"],
                condition=Q(ended_at__isnull=True),
                name="auth_live_idx",
            )
        ]

    def __str__(self) -> str:
        return f"authorisation {','.join(self.purposes)} until {self.expires_at:%Y-%m-%d %H:%M}"

    def is_live(self, now=None) -> bool:
        return self.ended_at is None and (now or timezone.now()) < self.expires_at


class Notice(models.Model):
    """A message to a holder: in-app inbox, and the delivery channels. Never a link."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    holder = models.ForeignKey("accounts.Holder", on_delete=models.CASCADE, related_name="notices")
    # Set when the notice is for one app account rather than whoever holds the card now: the
    # account an e-card was moved away from is told so, in its own inbox.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField("类型 / kind", max_length=40)
    # What the notice is about and which step of it, e.g. card 42 at the 30-day milestone:
    # one notice per (holder, kind, subject, milestone) however often a job runs.
    subject = models.CharField(max_length=64)
    milestone = models.CharField(max_length=32, blank=True)
    title = models.CharField("标题 / title", max_length=200)
    body = models.TextField("内容 / body")
    title_en = models.CharField(max_length=200, blank=True)
    body_en = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set once the delivery channels took it: the deliverer claims notices by this.
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "通知 / notice"
        verbose_name_plural = "通知 / notices"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "kind", "subject", "milestone"], name="notice_once_per_milestone"
            )
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(delivered_at__isnull=True), name="notice_undelivered_idx")
        ]

    def __str__(self) -> str:
        return self.title


class NoticeDelivery(models.Model):
    """One attempt to deliver a notice through one channel (the delivery log)."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField("渠道 / channel", max_length=40)
    ok = models.BooleanField("成功 / delivered")
    error = models.CharField("错误 / error", max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "通知投递记录 / delivery"
        verbose_name_plural = "通知投递记录 / delivery log"
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.channel} {'ok' if self.ok else 'failed'}"


class BindingChallenge(models.Model):
    """A one-time code sent by SMS to the phone the card centre holds for the holder.

    Binding an e-card to an app account takes this code and a real-person check: what is
    printed on a card, and its PIN, are known to whoever finds it. Only a hash of the code is
    kept; the challenge belongs to the account that asked for it and to one card.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    holder = models.ForeignKey("accounts.Holder", on_delete=models.CASCADE, related_name="+")
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "绑定验证码 / binding challenge"
        verbose_name_plural = "绑定验证码 / binding challenges"
        indexes = [models.Index(fields=["holder", "created_at"], name="challenge_holder_day_idx")]

    def __str__(self) -> str:
        return f"challenge {str(self.public_id)[:8]}…"


class PaymentProvider(models.Model):
    """A bank or payment app that confirms holders' transit payment agreements (乘车码支付).

    It calls with a JWT signed by its own Ed25519 key; only the public half is kept here.
    """

    provider_id = models.CharField("机构标识 / provider id", max_length=24, unique=True, editable=False)
    name = models.CharField("名称 / name", max_length=100)
    public_key = models.CharField("公钥 / public key", max_length=200)
    enabled = models.BooleanField("启用 / enabled", default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "支付机构 / payment provider"
        verbose_name_plural = "支付机构 / payment providers"

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_id})"


class PaymentMethod(models.TextChoices):
    BANK_ACCOUNT = "bank_account", "社保卡金融账户 / the card's bank account"
    BANK_CARD = "bank_card", "银行卡 / bank card"
    WALLET = "wallet", "支付账户 / payment app"


class PaymentAgreement(models.Model):
    """A holder's agreement that a provider pays their transit fares (一次签约，乘车扣款)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, related_name="agreements")
    # The provider's own id for the agreement: what makes its calls idempotent.
    provider_agreement_id = models.CharField(max_length=64)
    ecard = models.ForeignKey(ECard, on_delete=models.CASCADE, related_name="payment_agreements")
    method = models.CharField("支付方式 / method", max_length=20, choices=PaymentMethod.choices)
    account_masked = models.CharField("账户 / account", max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = "乘车码支付协议 / transit payment agreement"
        verbose_name_plural = "乘车码支付协议 / transit payment agreements"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_agreement_id"], name="agreement_once_per_provider_id"
            ),
            models.UniqueConstraint(
                fields=["ecard"], condition=Q(ended_at__isnull=True), name="agreement_one_live_per_ecard"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.name} {self.account_masked}"

    @property
    def live(self) -> bool:
        return self.ended_at is None


class ApplicationKind(models.TextChoices):
    NEW = "new", "申领 / new card"
    REPLACEMENT_LOSS = "replacement_loss", "补领（挂失补卡） / after a loss"
    REPLACEMENT_DAMAGE = "replacement_damage", "换发（卡片损坏） / damaged"
    DATA_CHANGE = "data_change", "换发（信息变更） / changed data"
    RENEWAL = "renewal", "换领（有效期满） / renewal"


class ApplicationState(models.TextChoices):
    SUBMITTED = "submitted", "已提交 / submitted"
    ACCEPTED = "accepted", "已受理 / accepted"
    IN_PRODUCTION = "in_production", "制卡中 / in production"
    READY = "ready", "待领取 / ready"
    COLLECTED = "collected", "已领取 / collected"
    REJECTED = "rejected", "未通过 / rejected"
    WITHDRAWN = "withdrawn", "已撤回 / withdrawn"


OPEN_APPLICATION_STATES = [
    ApplicationState.SUBMITTED,
    ApplicationState.ACCEPTED,
    ApplicationState.IN_PRODUCTION,
    ApplicationState.READY,
]


class Delivery(models.TextChoices):
    OUTLET = "outlet", "网点领取 / collect at an outlet"
    POST = "post", "邮寄 / by post"


class CardApplication(models.Model):
    """An application for a card made online (申领 / 补换领), followed to its collection."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField("类型 / kind", max_length=20, choices=ApplicationKind.choices)
    state = models.CharField(
        "进度 / state", max_length=20, choices=ApplicationState.choices, default=ApplicationState.SUBMITTED
    )
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey("accounts.Holder", on_delete=models.PROTECT, related_name="applications")
    region = models.CharField("发卡省份 / region", max_length=2, choices=Region.choices)
    # The card it replaces (replacements), and the card being made once there is one.
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    new_card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    delivery = models.CharField("领取方式 / delivery", max_length=10, choices=Delivery.choices)
    outlet = models.CharField("领卡网点 / outlet", max_length=100, blank=True)
    postal_address = models.CharField("邮寄地址 / postal address", max_length=200, blank=True)
    tracking_number = models.CharField("快递单号 / tracking number", max_length=40, blank=True)
    photo = models.CharField("照片 / photo", max_length=200, blank=True, editable=False)
    # A guardian's application for a child: the proof of relationship shown and its number.
    guardian_proof_number = models.CharField("关系证明编号 / proof number", max_length=40, blank=True)
    # The day an outlet keeps a ready card until (working days from ready).
    collect_by = models.DateField("领取期限 / collect by", null=True, blank=True)
    # What the pick-up certificate's QR code names (a replacement's): opaque, like an e-card's.
    certificate_reference = models.CharField(max_length=24, blank=True, db_index=True, editable=False)
    reject_reason = models.CharField("未通过原因 / reason", max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "制卡申请 / card application"
        verbose_name_plural = "制卡申请 / card applications"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "region"],
                condition=Q(state__in=OPEN_APPLICATION_STATES),
                name="application_one_open_per_person_region",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {str(self.public_id)[:8]}"


class RegionSetting(models.Model):
    """What differs by province, editable by staff."""

    region = models.CharField("省份 / region", max_length=2, choices=Region.choices, unique=True)
    # Third-generation cards: the e-card is issued with the application (同步申领) [seed 000].
    third_generation = models.BooleanField("发行第三代社保卡 / issues third-generation cards", default=False)

    class Meta:
        verbose_name = "省份设置 / region setting"
        verbose_name_plural = "省份设置 / region settings"

    def __str__(self) -> str:
        return self.get_region_display()
