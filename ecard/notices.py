"""Notices to holders: templates, the once-only record, and delivery through pluggable channels.

Holders are warned never to click links in messages about their card [seed 003], so no
notice has a link: it says where to go in the app or which outlet to visit, and gives the
hotline 12333. A test renders every template and looks for anything like a link.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from accounts.identity import mask_phone
from accounts.models import Holder
from plumbing.observability import NOTICES_SENT

from .models import Notice, NoticeDelivery

log = logging.getLogger(__name__)

# kind: (title, body), written in Chinese and translated through gettext; fields come from the
# params given to notice_send. Each body ends with the hotline.
TEMPLATES: dict[str, tuple[Promise, Promise]] = {
    "card.expiring": (
        _("社保卡即将到期"),
        _(
            "您尾号{card_tail}的社保卡将于{valid_until}到期。请在App“社保卡-换领”中申请换领，"
            "或携带身份证件到就近的社保卡服务网点办理。如有疑问请拨打12333。"
        ),
    ),
    "card.expired": (
        _("社保卡已到期"),
        _(
            "您尾号{card_tail}的社保卡已于{valid_until}到期。请在App“社保卡-换领”中申请换领，"
            "或携带身份证件到就近的社保卡服务网点办理。如有疑问请拨打12333。"
        ),
    ),
    "loss.deadline_reminder": (
        _("临时挂失即将失效"),
        _(
            "您尾号{card_tail}的社保卡临时挂失将于{deadline}失效，届时卡片自动恢复正常使用。"
            "如卡片确已丢失，请在此之前携带身份证件到社保卡服务网点办理正式挂失。"
            "如有疑问请拨打12333。"
        ),
    ),
    "replacement.ready": (
        _("新社保卡可以领取"),
        _(
            "您申请的新社保卡（尾号{card_tail}）已制作完成，请携带身份证件和领卡证明到办理补换卡的"
            "社保卡服务网点领取。如有疑问请拨打12333。"
        ),
    ),
    # State changes the holder did not make themselves.
    "card.loss_reported": (
        _("社保卡已临时挂失"),
        _(
            "您尾号{card_tail}的社保卡已临时挂失，{deadline}前未办理正式挂失将自动恢复。"
            "如非本人操作，请立即拨打12333。"
        ),
    ),
    "card.loss_formalised": (
        _("社保卡已正式挂失"),
        _(
            "您尾号{card_tail}的社保卡已正式挂失，挂失不可撤销。可在服务网点申请补领新卡。"
            "如有疑问请拨打12333。"
        ),
    ),
    "card.loss_lifted": (
        _("社保卡已解除挂失"),
        _("您尾号{card_tail}的社保卡已解除挂失，可正常使用。如非本人操作，请立即拨打12333。"),
    ),
    "card.loss_lapsed": (
        _("临时挂失已自动解除"),
        _(
            "您尾号{card_tail}的社保卡临时挂失期限已过且未办理正式挂失，卡片已自动恢复正常使用。"
            "如卡片仍未找到，请在App“社保卡-挂失”中重新挂失或携带身份证件到服务网点办理正式挂失。"
            "如有疑问请拨打12333。"
        ),
    ),
    "card.cancelled": (
        _("社保卡已注销"),
        _("您尾号{card_tail}的社保卡已注销（{reason}）。如有疑问请拨打12333。"),
    ),
    "card.transferred": (
        _("原社保卡已注销（跨省转移）"),
        _(
            "您已在其他省份启用新社保卡，您尾号{card_tail}的原社保卡已注销，"
            "电子社保卡已转到新卡，原卡不能再使用。如有疑问请拨打12333。"
        ),
    ),
    "card.enabled": (
        _("社保卡已启用"),
        _(
            "您尾号{card_tail}的社保卡已启用。如为补换的新卡，原卡已同时注销，"
            "电子社保卡已转至新卡。如有疑问请拨打12333。"
        ),
    ),
    "card.pin_unlocked": (
        _("社保卡密码已解锁"),
        _("您尾号{card_tail}的社保卡密码已在服务网点解锁。如非本人操作，请立即拨打12333。"),
    ),
    "card.pin_reset": (
        _("社保卡密码已重置"),
        _(
            "您尾号{card_tail}的社保卡密码已在服务网点重置为初始密码，请尽快在App“社保卡-修改密码”中修改。"
            "如非本人操作，请立即拨打12333。"
        ),
    ),
    "application.submitted": (
        _("制卡申请已提交"),
        _("您的{kind}申请已提交，我们将尽快审核，可在App“社保卡-办理进度”中查看。如有疑问请拨打12333。"),
    ),
    "application.accepted": (
        _("制卡申请已受理"),
        _("您的{kind}申请已审核通过，即将制卡。如有疑问请拨打12333。"),
    ),
    "application.in_production": (
        _("社保卡制作中"),
        _("您的社保卡正在制作中，制成后将通知您领取。如有疑问请拨打12333。"),
    ),
    "application.ready": (
        _("社保卡已制成"),
        _("您的社保卡已制成，{where}。如有疑问请拨打12333。"),
    ),
    "application.collected": (
        _("社保卡已领取"),
        _("您已领取新社保卡，请在App“社保卡-启用”中启用（首次修改密码即启用）。如有疑问请拨打12333。"),
    ),
    "application.rejected": (
        _("制卡申请未通过"),
        _("您的{kind}申请未通过：{reason}。请按要求重新申请，或到社保卡服务网点办理。如有疑问请拨打12333。"),
    ),
    "application.withdrawn": (
        _("制卡申请已撤回"),
        _("您的{kind}申请已撤回。如有疑问请拨打12333。"),
    ),
    "payment.agreement_proposed": (
        _("请确认乘车码支付签约"),
        _(
            "{provider}申请为您尾号{card_tail}的社保卡的电子社保卡开通乘车码支付。如系本人办理，"
            "请在{minutes}分钟内在App“电子社保卡-乘车码支付”中输入电子社保卡密码确认；"
            "未经您确认不会扣款。如非本人操作，请忽略或在该页面拒绝，并拨打12333。"
        ),
    ),
    "payment.agreement_ended": (
        _("乘车码支付签约已终止"),
        _(
            "您尾号{card_tail}的社保卡的电子社保卡与{provider}的乘车码支付签约已终止：{why}。"
            "如需继续使用乘车码，请在App“电子社保卡-乘车码支付”中重新签约。如有疑问请拨打12333。"
        ),
    ),
    "payment.agreement_confirmed": (
        _("乘车码已开通支付"),
        _(
            "您尾号{card_tail}的社保卡的电子社保卡已与{provider}签约乘车码支付，"
            "乘车费用由其扣款。如非本人操作，请在App“电子社保卡-乘车码支付”中解除，"
            "并拨打12333。"
        ),
    ),
    "ecard.rebound": (
        _("电子社保卡已绑定到其他账号"),
        _(
            "您尾号{card_tail}的社保卡对应的电子社保卡已于{at}经短信验证码和实人认证绑定到另一个账"
            "号，本账号已解除绑定。如非本人操作，请立即拨打12333挂失，或携带身份证件到社保卡服务网点办理。"
        ),
    ),
    "guardian.ended_ward": (
        _("监护人代办已结束"),
        _(
            "您已年满{age}周岁，监护人不再代为使用您的电子社保卡。请用本人手机号在App“注册”中注册，"
            "再在App“申领电子社保卡”中经短信验证码和实人认证绑定自己的电子社保卡。如有疑问请拨打12333。"
        ),
    ),
    "guardian.ended_guardian": (
        _("监护人代办已结束"),
        _(
            "{ward_name}已年满{age}周岁，您不再代为使用其电子社保卡，此前为其生成的二维码已失效。"
            "如有疑问请拨打12333。"
        ),
    ),
    "guardian.replaced": (
        _("监护关系已变更"),
        _(
            "服务网点已核验关系证明，将{ward_name}的监护人登记为他人，您不再代为使用其电子社保卡。"
            "如有异议，请携带身份证件和关系证明到社保卡服务网点办理，或拨打12333。"
        ),
    ),
    "family.invited": (
        _("亲情账户邀请"),
        _(
            "{presenter}邀请您加入其亲情账户（关系：{relationship}），同意后对方可代您出示就医购药、"
            "文化场馆和身份核验二维码，您可随时解除。请在{days}天内在App“亲情账户”中同意，"
            "或本人到社保卡服务网点办理。如不认识对方，请忽略。如有疑问请拨打12333。"
        ),
    ),
    "family.consented": (
        _("亲情成员已同意"),
        _("{member}已同意加入您的亲情账户，您可代其出示二维码。如有疑问请拨打12333。"),
    ),
    "family.code_used": (
        _("亲情账户代为出示了您的二维码"),
        _(
            "{presenter}今天代您出示了电子社保卡二维码并已被扫码，详情见App“扫码记录”。"
            "如非您同意，请在App“亲情账户”中立即解除并拨打12333。"
        ),
    ),
    "family.ended": (
        _("亲情账户已解除"),
        _("您与{other}的亲情账户已解除，此前代为出示的二维码已失效。如有疑问请拨打12333。"),
    ),
}

# The one-time code for binding an e-card, as an SMS gateway sends it: no link, and the usual
# warning never to pass it on. It is never written to a log or an in-app notice.
BINDING_SMS = _(
    "【电子社保卡】验证码{code}，{minutes}分钟内有效，用于绑定尾号{card_tail}的电子社保卡。"
    "请勿将验证码告诉任何人，工作人员不会索要。如非本人操作请忽略并拨打12333。"
)


def render(kind: str, params: dict) -> tuple[str, str, str, str]:
    """(title, body) in the site's language (Chinese), then in English.

    A parameter may be a lazy translation (a choice's label, a sentence of its own): it is
    worded in the language of the text it goes into.
    """
    texts = []
    for language in (settings.LANGUAGE_CODE, "en"):
        with translation.override(language):
            values = {
                name: str(value) if isinstance(value, Promise) else value for name, value in params.items()
            }
            texts += [str(part).format(**values) for part in TEMPLATES[kind]]
    subject, body, subject_en, body_en = texts
    return subject, body, subject_en, body_en


def card_params(card, **extra) -> dict:
    return {"card_tail": card.number[-4:], **extra}


def notice_send(
    *, holder: Holder | int, kind: str, subject: str, milestone: str = "", params: dict, account=None
) -> Notice | None:
    """Record a notice once per (holder, kind, subject, milestone) and deliver it after commit.

    Returns the new notice, or None when it had been sent already: a job run twice, two beat
    processes or a retry after a crash all end with one notice.
    """
    title, body, title_en, body_en = render(kind, params)
    holder_id = holder if isinstance(holder, int) else holder.pk
    try:
        with transaction.atomic():
            notice = Notice.objects.create(
                holder_id=holder_id,
                account=account,
                kind=kind,
                subject=str(subject),
                milestone=milestone,
                title=title,
                body=body,
                title_en=title_en,
                body_en=body_en,
            )
    except IntegrityError:
        return None
    transaction.on_commit(deliver_soon)
    return notice


def notices_create_bulk(rows: list[dict]) -> int:
    """Many notices at once (the expiry job); the unique constraint drops any already sent.

    Returns how many were written, less any a concurrent run wrote first.
    """
    objects = []
    for row in rows:
        title, body, title_en, body_en = render(row["kind"], row["params"])
        objects.append(
            Notice(
                holder_id=row["holder_id"],
                kind=row["kind"],
                subject=str(row["subject"]),
                milestone=row["milestone"],
                title=title,
                body=body,
                title_en=title_en,
                body_en=body_en,
            )
        )
    if not objects:
        return 0
    Notice.objects.bulk_create(objects, ignore_conflicts=True, batch_size=1000)
    # ignore_conflicts does not say which rows it dropped: count the ones that are ours.
    written = Notice.objects.filter(public_id__in=[notice.public_id for notice in objects]).count()
    if written:
        transaction.on_commit(deliver_soon)
    return written


def notice_mark_read(*, notice: Notice) -> Notice:
    if notice.read_at is None:
        Notice.objects.filter(pk=notice.pk, read_at__isnull=True).update(read_at=timezone.now())
        notice.refresh_from_db(fields=["read_at"])
    return notice


def deliver_soon() -> None:
    from .tasks import notices_deliver

    try:
        notices_deliver.delay()
    except Exception:  # the broker is down: the beat backstop delivers later
        log.warning("could not queue notice delivery; beat will deliver later", exc_info=True)


# --------------------------------------------------------------------------- channels


class TransientDeliveryError(Exception):
    """The channel may work on a retry (gateway busy, timeout)."""


class LoggingChannel:
    """Default channel: writes that a notice or an SMS went out, with no personal data."""

    name = "log"

    def send(self, notice: Notice) -> None:
        log.info("notice %s kind=%s holder=%s", notice.public_id, notice.kind, notice.holder_id)

    def send_text(self, *, phone: str, text: str) -> None:
        # Never the text: it may carry a one-time code.
        log.info("sms to %s (%d characters)", mask_phone(phone), len(text))


class ConsoleChannel:
    """Development: prints each notice and SMS, as Django's console e-mail backend prints mail.

    The production settings refuse it: it would print one-time codes.
    """

    name = "console"

    def send(self, notice: Notice) -> None:
        print(f"[notice to holder {notice.holder_id}] {notice.title}: {notice.body}", flush=True)

    def send_text(self, *, phone: str, text: str) -> None:
        print(f"[sms to {phone}] {text}", flush=True)


# What OutboxChannel was handed, for tests to read, like django.core.mail.outbox.
outbox: list[dict] = []


class OutboxChannel:
    """Tests: keeps every notice and SMS in ``ecard.notices.outbox``."""

    name = "outbox"

    def send(self, notice: Notice) -> None:
        outbox.append({"notice": notice.public_id, "holder": notice.holder_id, "text": notice.body})

    def send_text(self, *, phone: str, text: str) -> None:
        outbox.append({"phone": phone, "text": text})


def channels() -> list:
    return [import_string(path)() for path in settings.NOTICE_CHANNELS]


def text_send(*, phone: str, text: str) -> None:
    """An SMS straight to a phone (a one-time code), through every channel, as a gateway
    adapter would send it; not an in-app notice, and nothing of it is stored."""
    for channel in channels():
        channel.send_text(phone=phone, text=text)


def notices_deliver(*, limit: int = 500) -> int:
    """Hand undelivered notices to every channel, exactly once per notice and channel.

    For each batch, this deliverer first claims a delivery row per notice and channel and
    commits the claims; then it hands each claimed notice over and marks that row delivered
    at once. Killed at any point, a rerun skips what was marked, and what another deliverer
    claims; the one notice in flight at the kill is handed over again once its claim is stale,
    under the same ``notice.public_id`` (the key a gateway adapter passes as its message id).
    A channel's transient failure is logged and left for the retry; the in-app inbox has the
    notice either way.
    """
    delivered = 0
    senders = channels()
    names = [channel.name for channel in senders]
    while True:
        claim = uuid.uuid4().hex
        batch = list(Notice.objects.filter(delivered_at__isnull=True).order_by("id")[:limit])
        if not batch:
            return delivered
        _claim(batch, names, claim)
        mine = set(
            NoticeDelivery.objects.filter(claim=claim, ok__isnull=True).values_list("notice_id", "channel")
        )
        done = set(
            NoticeDelivery.objects.filter(notice__in=batch, ok=True).values_list("notice_id", "channel")
        )
        failed = None
        finished = []
        for notice in batch:
            for channel in senders:
                key = (notice.pk, channel.name)
                if key not in mine:
                    continue
                try:
                    channel.send(notice)
                except TransientDeliveryError as exc:
                    NoticeDelivery.objects.filter(claim=claim, notice=notice, channel=channel.name).update(
                        ok=False, error=str(exc)[:200]
                    )
                    failed = exc
                    break
                NoticeDelivery.objects.filter(claim=claim, notice=notice, channel=channel.name).update(
                    ok=True, at=timezone.now()
                )
                done.add(key)
            if failed is not None:
                break
            if all((notice.pk, name) in done for name in names):
                finished.append(notice)
        if finished:
            Notice.objects.filter(pk__in=[n.pk for n in finished], delivered_at__isnull=True).update(
                delivered_at=timezone.now()
            )
            for notice in finished:
                NOTICES_SENT.labels(notice.kind).inc()
            delivered += len(finished)
        if failed is not None:
            raise failed
        if not finished and not mine:
            return delivered  # everything left is another deliverer's now


def _claim(batch: list[Notice], names: list[str], claim: str) -> None:
    """Committed before anything is sent: this deliverer's rows, and the stale ones it takes."""
    stale = timezone.now() - datetime.timedelta(seconds=settings.NOTICE_CLAIM_STALE_SECONDS)
    NoticeDelivery.objects.filter(notice__in=batch, ok__isnull=True, at__lt=stale).update(
        claim=claim, at=timezone.now()
    )
    NoticeDelivery.objects.bulk_create(
        [
            NoticeDelivery(notice=notice, channel=name, ok=None, claim=claim)
            for notice in batch
            for name in names
        ],
        ignore_conflicts=True,  # claimed or delivered already: not this deliverer's
    )
