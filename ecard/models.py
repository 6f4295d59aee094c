"""Physical cards, e-cards, the audit trail and the working-day calendar overrides.

State changes happen only in ``ecard.services``; nothing here changes state.
"""

import datetime
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.actors import ActorKind, Channel
from accounts.identity import mask_card_number
from accounts.models import GuardianProof
from plumbing.pii import SealedField


class Region(models.TextChoices):
    """Issuing province (GB/T 2260 two-digit code)."""

    BEIJING = "11", _("北京")
    TIANJIN = "12", _("天津")
    HEBEI = "13", _("河北")
    SHANXI = "14", _("山西")
    INNER_MONGOLIA = "15", _("内蒙古")
    LIAONING = "21", _("辽宁")
    JILIN = "22", _("吉林")
    HEILONGJIANG = "23", _("黑龙江")
    SHANGHAI = "31", _("上海")
    JIANGSU = "32", _("江苏")
    ZHEJIANG = "33", _("浙江")
    ANHUI = "34", _("安徽")
    FUJIAN = "35", _("福建")
    JIANGXI = "36", _("江西")
    SHANDONG = "37", _("山东")
    HENAN = "41", _("河南")
    HUBEI = "42", _("湖北")
    HUNAN = "43", _("湖南")
    GUANGDONG = "44", _("广东")
    GUANGXI = "45", _("广西")
    HAINAN = "46", _("海南")
    CHONGQING = "50", _("重庆")
    SICHUAN = "51", _("四川")
    GUIZHOU = "52", _("贵州")
    YUNNAN = "53", _("云南")
    TIBET = "54", _("西藏")
    SHAANXI = "61", _("陕西")
    GANSU = "62", _("甘肃")
    QINGHAI = "63", _("青海")
    NINGXIA = "64", _("宁夏")
    XINJIANG = "65", _("新疆")


class CardState(models.TextChoices):
    SEALED = "sealed", _("封存")
    ACTIVE = "active", _("正常")
    TEMPORARILY_LOST = "temporarily_lost", _("临时挂失")
    LOST = "lost", _("正式挂失")
    CANCELLED = "cancelled", _("注销")


class OldCard(models.TextChoices):
    """What became of the card a replacement replaces, as the counter saw at collection."""

    HANDED_IN = "handed_in", _("原卡已交回")
    DECLARED_LOST = "declared_lost", _("原卡已遗失")


class CancellationReason(models.TextChoices):
    MOVED_OUT_OF_PROVINCE = "moved_out_of_province", _("社保关系转移省外")
    EMIGRATED = "emigrated", _("出国定居")
    DECEASED = "deceased", _("死亡")
    DECLARED_MISSING_OR_DEAD = "declared_missing_or_dead", _("宣告失踪或死亡")
    REPLACED = "replaced", _("换卡注销")
    TRANSFERRED = "transferred", _("转移（已在他省启用新卡）")
    APPLICATION_ENDED = "application_ended", _("制卡申请撤回或未通过")
    DUPLICATE = "duplicate", _("重复持卡")


class ReplacementKind(models.TextChoices):
    LOSS = "loss", _("补领（挂失补卡）")
    RENEWAL = "renewal", _("换领（有效期满）")
    DAMAGE = "damage", _("换发（卡片损坏）")
    DATA_CHANGE = "data_change", _("换发（信息变更）")


class Card(models.Model):
    """The physical chip card (实体社保卡)."""

    number = models.CharField(_("卡号"), max_length=20, unique=True)
    holder = models.ForeignKey(
        "accounts.Holder",
        verbose_name=_("持卡人"),
        on_delete=models.PROTECT,
        related_name="cards",
    )
    region = models.CharField(_("发卡省份"), max_length=2, choices=Region.choices)
    # What the card centre printed on the card and wrote to its chip: the holder's data when it
    # was made. Blank on cards made before this was kept: the holder's data, never corrected
    # since (a correction stores the old data here first, holder_correct).
    printed_name = SealedField(_("卡面姓名"), max_length=100, blank=True, default="", editable=False)
    printed_id_number = SealedField(_("卡面证件号码"), max_length=32, blank=True, default="", editable=False)
    generation = models.PositiveSmallIntegerField(_("代别"), default=3)
    issued_on = models.DateField(_("发卡日期"))
    received_at = models.DateTimeField(_("领卡时间"), null=True, blank=True)
    valid_until = models.DateField(_("有效期至"), db_index=True)
    state = models.CharField(_("状态"), max_length=20, choices=CardState.choices, default=CardState.SEALED)

    # The social-security PIN. While ``pin_is_initial`` the PIN is the configured initial
    # PIN, which is public knowledge anyway; that spares a slow hash per imported card.
    pin_hash = models.CharField(max_length=256, blank=True, editable=False)
    pin_is_initial = models.BooleanField(_("初始密码"), default=True, editable=False)
    pin_failures = models.PositiveSmallIntegerField(_("密码连续错误次数"), default=0)
    pin_locked = models.BooleanField(_("密码锁定"), default=False)
    financial_active = models.BooleanField(_("金融功能已激活"), default=False)

    temporarily_lost_at = models.DateTimeField(_("临时挂失时间"), null=True, blank=True)
    # What a lifted or lapsed temporary loss returns to: a sealed card stays sealed.
    lost_from_state = models.CharField(max_length=20, blank=True, editable=False)
    formalisation_deadline = models.DateTimeField(_("临时挂失截止"), null=True, blank=True)
    # Counted over a year the holiday calendar does not know yet (weekends only): computed
    # again when staff enter that year.
    deadline_provisional = models.BooleanField(_("截止时间待定"), default=False)
    lost_at = models.DateTimeField(_("正式挂失时间"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("注销时间"), null=True, blank=True)
    cancellation_reason = models.CharField(
        _("注销原因"),
        max_length=32,
        choices=CancellationReason.choices,
        blank=True,
    )

    # Replacement: set on the old card when a new one is applied for, which also lifts it
    # out of the one-card-per-region constraint so the new card can exist beside it.
    replacement_applied_at = models.DateTimeField(_("申请补换卡时间"), null=True, blank=True)
    # One live replacement per card; one cancelled while being made stays on record beside
    # the next (so not a one-to-one link).
    replaces = models.ForeignKey(
        "self",
        verbose_name=_("替换的旧卡"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replacements",
    )
    replacement_kind = models.CharField(
        _("补换类型"), max_length=16, choices=ReplacementKind.choices, blank=True
    )
    ready_on = models.DateField(_("可领卡日期"), null=True, blank=True)
    ready_on_provisional = models.BooleanField(_("领卡日期待定"), default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("实体社保卡")
        verbose_name_plural = _("实体社保卡")
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "region"],
                condition=~Q(state="cancelled") & Q(replacement_applied_at__isnull=True),
                name="card_one_live_per_holder_region",
                violation_error_message=_("同一参保人在同一省份只能持有一张有效社保卡。"),
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
            ("operate_card", _("可办理卡片业务")),
            ("cancel_card", _("可注销卡片")),
            ("correct_holder", _("可变更持卡人姓名和证件号码")),
        ]

    def __str__(self) -> str:
        return f"{self.number_masked} · {self.get_state_display()}"

    @property
    def number_masked(self) -> str:
        return mask_card_number(self.number)

    @property
    def is_received(self) -> bool:
        return self.received_at is not None

    @property
    def in_production(self) -> bool:
        """Still being made: sealed and never handed over. Only a third-generation card's e-card
        can exist in this state (issued with the application, 同步申领); the service matrix has
        a column for it. Read here by the matrix and by the scanners' snapshot alike."""
        return self.state == CardState.SEALED and self.received_at is None

    @property
    def name_on_card(self) -> str:
        """The name printed on this card: as the holder's when it was made."""
        return self.printed_name or self.holder.name

    @property
    def id_number_on_card(self) -> str:
        return self.printed_id_number or self.holder.id_number

    @property
    def initial_pin_in_hand(self) -> bool:
        """Collected and still on the initial PIN, which anyone may know: it cannot pay until the
        holder changes it. A card still being made has no PIN in anyone's hands yet."""
        return self.pin_is_initial and self.received_at is not None

    def is_expired(self, today: datetime.date | None = None) -> bool:
        return (today or timezone.localdate()) > self.valid_until

    def renewal_opens_on(self) -> datetime.date:
        return self.valid_until - datetime.timedelta(days=settings.CARD_RENEWAL_WINDOW_DAYS)

    def renewal_open(self, today: datetime.date | None = None) -> bool:
        return (today or timezone.localdate()) >= self.renewal_opens_on()


class ECardChannel(models.TextChoices):
    NATIONAL_APP = "national_app", _("国家社会保险公共服务平台")
    WECHAT = "wechat", _("微信小程序")
    ALIPAY = "alipay", _("支付宝小程序")
    BANK_APP = "bank_app", _("银行App")
    CITY_APP = "city_app", _("城市服务App")
    # Issued at the counter for a holder with no smartphone, shown by a family presenter.
    OUTLET = "outlet", _("服务网点")


class ECard(models.Model):
    """The e-card (电子社保卡): 1:1 with a physical card, moved to the new card on replacement."""

    card = models.OneToOneField(
        Card, verbose_name=_("实体卡"), on_delete=models.PROTECT, related_name="ecard"
    )
    # Opaque reference printed in QR codes instead of any personal data.
    reference = models.CharField(_("电子卡标识"), max_length=32, unique=True)
    channel = models.CharField(_("签发渠道"), max_length=20, choices=ECardChannel.choices)
    password_hash = models.CharField(max_length=256, editable=False)
    password_changed_at = models.DateTimeField(_("密码修改时间"), default=timezone.now)
    transit_payment_method = models.CharField(_("乘车码支付方式"), max_length=32, blank=True)
    issued_at = models.DateTimeField(_("签发时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("电子社保卡")
        verbose_name_plural = _("电子社保卡")

    def __str__(self) -> str:
        return f"e-card {self.reference[:8]}…"


class AuditEvent(models.Model):
    """One row per state change: who, through which channel, before and after, and why."""

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    actor_kind = models.CharField(_("操作方"), max_length=10, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("操作人"), max_length=150, blank=True)
    channel = models.CharField(_("渠道"), max_length=20, choices=Channel.choices)
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
    state_before = models.CharField(_("变更前"), max_length=20, blank=True)
    state_after = models.CharField(_("变更后"), max_length=20, blank=True)
    reason = models.CharField(_("原因"), max_length=64, blank=True)
    data = models.JSONField(_("详情"), default=dict, blank=True)
    # An agent acting for the holder at the outlet; shown in full only on the event's page.
    agent_name = SealedField(_("代办人"), max_length=100, blank=True)
    agent_id_type = models.CharField(_("代办人证件类型"), max_length=32, blank=True)
    agent_id_number = SealedField(_("代办人证件号码"), max_length=32, blank=True)
    # A correction of the holder's name or ID number keeps what was on file before; sealed like
    # the agent's, and shown in full only on the event's page.
    previous_name = SealedField(_("原姓名"), max_length=100, blank=True)
    previous_id_number = SealedField(_("原证件号码"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("审计事件")
        verbose_name_plural = _("审计事件")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}"


class CalendarYear(models.Model):
    """A year whose holidays and make-up workdays staff entered by hand.

    The working-day package only knows the years the State Council has published. Once a
    year is listed here, its days not listed below are ordinary (Mon–Fri work).
    """

    year = models.PositiveSmallIntegerField(_("年份"), unique=True)
    note = models.CharField(_("依据"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("节假日安排年份")
        verbose_name_plural = _("节假日安排")
        ordering = ["-year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """A holiday or a make-up workday (调休) that overrides the package."""

    year = models.ForeignKey(CalendarYear, on_delete=models.CASCADE, related_name="days")
    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("调休上班"), default=False)
    name = models.CharField(_("名称"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("节假日或调休日")
        verbose_name_plural = _("节假日或调休日")
        ordering = ["date"]

    def __str__(self) -> str:
        kind = _("上班") if self.is_workday else _("休息")
        return f"{self.date} {self.name} ({kind})"

    def clean(self):
        # The year may not be saved yet when its days are validated inline.
        year = self.year if self.year_id or "year" in self._state.fields_cache else None
        if year is not None and self.date and self.date.year != year.year:
            raise ValidationError({"date": _("日期须在{year}年内").format(year=year.year)})


class HolderAuthorisation(models.Model):
    """经本人授权: the holder lets the e-card work for some purposes while the card is lost.

    Time-limited, withdrawable, and ended by the next change of the card's state.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ecard = models.ForeignKey(ECard, on_delete=models.CASCADE, related_name="authorisations")
    purposes = models.JSONField(_("用途"))
    card_state = models.CharField(_("授权时卡状态"), max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("到期"))
    ended_at = models.DateTimeField(_("结束"), null=True, blank=True)
    end_reason = models.CharField(
        _("结束原因"), max_length=20, blank=True
    )  # withdrawn, state_changed, password_changed

    class Meta:
        verbose_name = _("本人授权")
        verbose_name_plural = _("本人授权")
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
    kind = models.CharField(_("类型"), max_length=40)
    # What the notice is about and which step of it, e.g. card 42 at the 30-day milestone:
    # one notice per (holder, kind, subject, milestone) however often a job runs.
    subject = models.CharField(max_length=64)
    milestone = models.CharField(max_length=32, blank=True)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"))
    title_en = models.CharField(max_length=200, blank=True)
    body_en = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set once the delivery channels took it: the deliverer claims notices by this.
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
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
    """One attempt to deliver a notice through one channel (the delivery log).

    A deliverer claims the row (``ok`` empty, its ``claim``) and commits that before the
    channel is handed the notice; at most one claimed or delivered row per notice and channel
    exists, so two deliverers, or a rerun after a killed one, never hand it over twice. A
    claim whose deliverer died is taken over after ``NOTICE_CLAIM_STALE_SECONDS``."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(_("渠道"), max_length=40)
    ok = models.BooleanField(_("成功"), null=True)  # empty: being sent
    claim = models.CharField(max_length=32, blank=True, editable=False)
    error = models.CharField(_("错误"), max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("通知投递记录")
        verbose_name_plural = _("通知投递记录")
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "channel"],
                condition=models.Q(ok__isnull=True) | models.Q(ok=True),
                name="notice_delivery_once_per_channel",
            )
        ]
        indexes = [models.Index(fields=["claim"], name="notice_delivery_claim_idx")]

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
        verbose_name = _("绑定验证码")
        verbose_name_plural = _("绑定验证码")
        indexes = [models.Index(fields=["holder", "created_at"], name="challenge_holder_day_idx")]

    def __str__(self) -> str:
        return f"challenge {str(self.public_id)[:8]}…"


class PaymentProvider(models.Model):
    """A bank or payment app that confirms holders' transit payment agreements (乘车码支付).

    It calls with a JWT signed by its own Ed25519 key; only the public half is kept here.
    """

    provider_id = models.CharField(_("机构标识"), max_length=24, unique=True, editable=False)
    name = models.CharField(_("名称"), max_length=100)
    public_key = models.CharField(_("公钥"), max_length=200)
    enabled = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("支付机构")
        verbose_name_plural = _("支付机构")

    def __str__(self) -> str:
        return f"{self.name} ({self.provider_id})"


class PaymentMethod(models.TextChoices):
    BANK_ACCOUNT = "bank_account", _("社保卡金融账户")
    BANK_CARD = "bank_card", _("银行卡")
    WALLET = "wallet", _("支付账户")


AGREEMENT_STATES = ["pending", "live", "lapsed", "ended"]


class PaymentAgreement(models.Model):
    """A holder's agreement that a provider pays their transit fares (一次签约，乘车扣款)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(PaymentProvider, on_delete=models.PROTECT, related_name="agreements")
    # The provider's own id for the agreement: what makes its calls idempotent.
    provider_agreement_id = models.CharField(max_length=64)
    ecard = models.ForeignKey(ECard, on_delete=models.CASCADE, related_name="payment_agreements")
    method = models.CharField(_("支付方式"), max_length=20, choices=PaymentMethod.choices)
    account_masked = models.CharField(_("账户"), max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the holder confirmed it in the app with the e-card password; until then the
    # provider's proposal pays nothing.
    confirmed_at = models.DateTimeField(_("本人确认时间"), null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("乘车码支付协议")
        verbose_name_plural = _("乘车码支付协议")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_agreement_id"], name="agreement_once_per_provider_id"
            ),
            models.UniqueConstraint(
                fields=["ecard"],
                condition=Q(ended_at__isnull=True, confirmed_at__isnull=False),
                name="agreement_one_live_per_ecard",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.name} {self.account_masked}"

    @property
    def live(self) -> bool:
        """Confirmed by the holder and not ended: it pays the holder's fares."""
        return self.ended_at is None and self.confirmed_at is not None

    @property
    def lapsed(self) -> bool:
        """A proposal the holder did not confirm in time."""
        deadline = self.created_at + datetime.timedelta(minutes=settings.AGREEMENT_PENDING_MINUTES)
        return self.confirmed_at is None and timezone.now() >= deadline

    @property
    def state(self) -> str:
        if self.ended_at is not None:
            return "ended"
        if self.confirmed_at is not None:
            return "live"
        return "lapsed" if self.lapsed else "pending"


class ApplicationKind(models.TextChoices):
    NEW = "new", _("申领")
    REPLACEMENT_LOSS = "replacement_loss", _("补领（挂失补卡）")
    REPLACEMENT_DAMAGE = "replacement_damage", _("换发（卡片损坏）")
    DATA_CHANGE = "data_change", _("换发（信息变更）")
    RENEWAL = "renewal", _("换领（有效期满）")


class ApplicationState(models.TextChoices):
    SUBMITTED = "submitted", _("已提交")
    ACCEPTED = "accepted", _("已受理")
    IN_PRODUCTION = "in_production", _("制卡中")
    READY = "ready", _("待领取")
    COLLECTED = "collected", _("已领取")
    REJECTED = "rejected", _("未通过")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_APPLICATION_STATES = [
    ApplicationState.SUBMITTED,
    ApplicationState.ACCEPTED,
    ApplicationState.IN_PRODUCTION,
    ApplicationState.READY,
]


class Delivery(models.TextChoices):
    OUTLET = "outlet", _("网点领取")
    POST = "post", _("邮寄")


class GuardianClaim(models.TextChoices):
    """A guardian's application for a child not linked to them: staff check the proof."""

    PENDING = "pending", _("待网点核验关系证明")
    GRANTED = "granted", _("关系证明已核验")
    REFUSED = "refused", _("关系证明未通过")


class CardApplication(models.Model):
    """An application for a card made online (申领 / 补换领), followed to its collection."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("类型"), max_length=20, choices=ApplicationKind.choices)
    state = models.CharField(
        _("进度"), max_length=20, choices=ApplicationState.choices, default=ApplicationState.SUBMITTED
    )
    # The app account that applied; none for an application taken at the counter.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    holder = models.ForeignKey("accounts.Holder", on_delete=models.PROTECT, related_name="applications")
    region = models.CharField(_("发卡省份"), max_length=2, choices=Region.choices)
    # The card it replaces (replacements), and the card being made once there is one.
    card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    new_card = models.ForeignKey(Card, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    delivery = models.CharField(_("领取方式"), max_length=10, choices=Delivery.choices)
    outlet = models.CharField(_("领卡网点"), max_length=100, blank=True)
    postal_address = SealedField(_("邮寄地址"), max_length=200, blank=True)
    tracking_number = models.CharField(_("快递单号"), max_length=40, blank=True)
    photo = models.CharField(_("照片"), max_length=200, blank=True, editable=False)
    # A guardian's application for a child: the proof of relationship shown and its number.
    guardian_proof_number = SealedField(_("关系证明编号"), max_length=40, blank=True)
    guardian_proof = models.CharField(_("关系证明"), max_length=20, blank=True, choices=GuardianProof.choices)
    # Set when the applicant was not the child's guardian: the link waits for staff.
    guardian_claim = models.CharField(
        _("监护关系核验"), max_length=10, blank=True, choices=GuardianClaim.choices
    )
    # The day an outlet keeps a ready card until (working days from ready).
    collect_by = models.DateField(_("领取期限"), null=True, blank=True)
    # What the pick-up certificate's QR code names (a replacement's): opaque, like an e-card's.
    certificate_reference = models.CharField(max_length=24, blank=True, db_index=True, editable=False)
    reject_reason = models.CharField(_("未通过原因"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("制卡申请")
        verbose_name_plural = _("制卡申请")
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

    @property
    def guardian_claim_pending(self) -> bool:
        """The applicant claims to be the child's guardian and staff have not granted it: the
        applicant follows the application and reaches nothing of the child."""
        return self.guardian_claim in (GuardianClaim.PENDING, GuardianClaim.REFUSED)


class RegionSetting(models.Model):
    """What differs by province, editable by staff."""

    region = models.CharField(_("省份"), max_length=2, choices=Region.choices, unique=True)
    # Third-generation cards: the e-card is issued with the application (同步申领) [seed 000].
    third_generation = models.BooleanField(_("发行第三代社保卡"), default=False)

    class Meta:
        verbose_name = _("省份设置")
        verbose_name_plural = _("省份设置")

    def __str__(self) -> str:
        return self.get_region_display()


class FamilyRelationship(models.TextChoices):
    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    OTHER = "other", _("其他亲属")


class FamilyLinkState(models.TextChoices):
    INVITED = "invited", _("待同意")
    ACTIVE = "active", _("已同意")
    ENDED = "ended", _("已结束")


def new_family_reference() -> str:
    return secrets.token_hex(4)


class FamilyLink(models.Model):
    """亲情账户: an adult member lets a holder (the presenter) show the member's codes.

    Invited by the presenter, consented to by the member (in their own account with their
    e-card password, or at an outlet after a real-person check), ended by either at once.
    An invitation not consented to within FAMILY_INVITATION_DAYS lapses.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The 4 bytes a code shown by this presenter carries (docs/qr-format.md): opaque, random.
    reference = models.CharField(max_length=8, unique=True, default=new_family_reference, editable=False)
    presenter = models.ForeignKey(
        "accounts.Holder",
        verbose_name=_("代为出示人"),
        on_delete=models.CASCADE,
        related_name="family_members",
    )
    member = models.ForeignKey(
        "accounts.Holder",
        verbose_name=_("亲情成员"),
        on_delete=models.CASCADE,
        related_name="family_presenters",
    )
    relationship = models.CharField(_("关系"), max_length=10, choices=FamilyRelationship.choices)
    state = models.CharField(
        _("状态"), max_length=10, choices=FamilyLinkState.choices, default=FamilyLinkState.INVITED
    )
    invited_at = models.DateTimeField(_("邀请时间"), default=timezone.now)
    expires_at = models.DateTimeField(_("邀请有效期至"))
    consented_at = models.DateTimeField(_("同意时间"), null=True, blank=True)
    consent_channel = models.CharField(_("同意渠道"), max_length=20, choices=Channel.choices, blank=True)
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # presenter_ended, member_ended, member_card_cancelled, presenter_card_cancelled, …
    end_reason = models.CharField(_("结束原因"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("亲情账户")
        verbose_name_plural = _("亲情账户")
        ordering = ["-invited_at"]
        constraints = [
            # One live link per pair: a second invitation while one is pending or active is refused.
            models.UniqueConstraint(
                fields=["presenter", "member"],
                condition=~Q(state="ended"),
                name="family_one_live_link",
            ),
            models.CheckConstraint(condition=~Q(presenter=F("member")), name="family_not_oneself"),
        ]

    def __str__(self) -> str:
        return f"{self.presenter} → {self.member} ({self.state})"

    def invitation_lapsed(self, now=None) -> bool:
        return self.state == FamilyLinkState.INVITED and (now or timezone.now()) >= self.expires_at

    @property
    def shown_state(self) -> str:
        """The state a person is told: an invitation past its time reads as expired."""
        return "expired" if self.invitation_lapsed() else self.state
