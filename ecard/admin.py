"""What outlet staff see: cards, e-cards, the audit trail and the holiday calendar.

No form edits a card's state: every lifecycle operation is a button on the card page
that calls its service and shows the rule's own message when it refuses.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.actors import Agent
from accounts.admin import holder_search_filter
from accounts.identity import IdType, mask_id_number, mask_name, normalise_id_number
from accounts.models import GuardianProof
from plumbing import assertions
from plumbing.errors import DomainError

from . import selectors, services
from .audit import Actor
from .models import (
    ApplicationState,
    AuditEvent,
    CalendarDay,
    CalendarYear,
    CancellationReason,
    Card,
    CardApplication,
    Channel,
    ECard,
    FamilyLink,
    FamilyRelationship,
    Notice,
    NoticeDelivery,
    OldCard,
    PaymentAgreement,
    PaymentProvider,
    Region,
    RegionSetting,
    ReplacementKind,
)

STAFF_CHANNELS = [
    (c, label) for c, label in Channel.choices if c in (Channel.OUTLET, Channel.HOTLINE, Channel.BANK)
]


class OperationForm(forms.Form):
    """Every operation asks where the request came from, so the audit trail says it truthfully,
    and who came if not the holder: an agent (代办人), whose ID staff have seen."""

    channel = forms.ChoiceField(
        label=_("受理渠道"),
        choices=STAFF_CHANNELS,
        initial=Channel.OUTLET,
        required=False,
        help_text=_("持卡人通过哪个渠道办理"),
    )
    agent_name = forms.CharField(label=_("代办人姓名"), max_length=100, required=False)
    agent_id_type = forms.ChoiceField(
        label=_("代办人证件类型"), choices=[("", "—"), *IdType.choices], required=False
    )
    agent_id_number = forms.CharField(label=_("代办人证件号码"), max_length=32, required=False)

    def clean(self):
        data = super().clean()
        given = [data.get(f) for f in ("agent_name", "agent_id_type", "agent_id_number")]
        data["agent"] = None
        if any(given):
            if not all(given):
                raise forms.ValidationError(_("代办人须填写姓名、证件类型和证件号码"))
            try:
                number, _id_type = normalise_id_number(data["agent_id_type"], data["agent_id_number"])
            except DomainError as exc:
                raise forms.ValidationError({"agent_id_number": str(exc)}) from None
            data["agent"] = Agent(" ".join(data["agent_name"].split()), data["agent_id_type"], number)
        for name in ("agent_name", "agent_id_type", "agent_id_number"):
            data.pop(name, None)
        return data


class PhotoInput(forms.ClearableFileInput):
    """A file, or on a counter's tablet the camera: ``capture`` asks the browser for it."""

    def __init__(self, attrs=None):
        super().__init__({"accept": "image/jpeg,image/png", "capture": "user", **(attrs or {})})


def photo_field(required: bool) -> forms.FileField:
    return forms.FileField(
        label=_("照片"),
        required=required,
        widget=PhotoInput,
        help_text=_("现场拍摄或上传照片文件：不超过2兆字节，不小于358×441像素"),
    )


class CounterForm(OperationForm):
    """An operation that makes a card to be collected here: which outlet hands it over."""

    outlet = forms.CharField(label=_("领卡网点"), max_length=100, help_text=_("本网点名称，印在领卡证明上"))


class ReplacementForm(CounterForm):
    kind = forms.ChoiceField(label=_("补换类型"), choices=ReplacementKind.choices)
    number = forms.CharField(
        label=_("新卡号"),
        required=False,
        help_text=_("留空则自动生成"),
    )
    photo = photo_field(required=False)


class CorrectionForm(CounterForm):
    name = forms.CharField(label=_("变更后姓名"), max_length=100)
    id_type = forms.ChoiceField(label=_("变更后证件类型"), choices=IdType.choices)
    id_number = forms.CharField(label=_("变更后证件号码"), max_length=32)
    photo = photo_field(required=True)
    number = forms.CharField(label=_("新卡号"), required=False, help_text=_("留空则自动生成"))


class PhotoForm(OperationForm):
    photo = photo_field(required=True)


class ReceiveForm(OperationForm):
    old_card = forms.ChoiceField(
        label=_("原卡"),
        choices=[("", "—"), *OldCard.choices],
        required=False,
        help_text=_("补换的新卡：原卡交回网点或已遗失"),
    )


class FamilyEnrolForm(OperationForm):
    presenter_id_type = forms.ChoiceField(label=_("代为出示人证件类型"), choices=IdType.choices)
    presenter_id_number = forms.CharField(
        label=_("代为出示人证件号码"), max_length=32, help_text=_("代为出示人须已申领电子社保卡")
    )
    relationship = forms.ChoiceField(label=_("关系"), choices=FamilyRelationship.choices)
    password = forms.CharField(
        label=_("电子社保卡密码"),
        min_length=6,
        max_length=6,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=_("由持卡人本人在密码键盘上输入"),
    )
    identity_token = forms.CharField(
        label=_("实人认证凭证"),
        max_length=512,
        help_text=_("持卡人本人在场，经实人认证设备核验后得到的凭证"),
    )


class CancelForm(OperationForm):
    reason = forms.ChoiceField(
        label=_("注销原因"),
        choices=[c for c in CancellationReason.choices if c[0] not in services.RESERVED_REASONS],
    )
    certificate_number = forms.CharField(
        label=_("证明文书编号"),
        max_length=60,
        required=False,
        help_text=_("因死亡注销：死亡证明编号；宣告失踪或死亡：法院判决书编号"),
    )
    certificate_issuer = forms.CharField(
        label=_("出具机关"), max_length=60, required=False, help_text=_("如医院、公安派出所或人民法院")
    )


def staff_call(request, form: forms.Form) -> tuple[Actor, dict]:
    """Who acts (the signed-in staff member, through the channel and with the agent the form
    names) and the service's parameters: the form's fields that were filled in."""
    params = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    return Actor.staff(request.user, params.pop("channel", Channel.OUTLET), params.pop("agent", None)), params


@dataclasses.dataclass(frozen=True)
class Operation:
    label: str | Promise
    service: Callable
    permission: str = "ecard.operate_card"
    form: type[forms.Form] = OperationForm


OPERATIONS: dict[str, Operation] = {
    "receive": Operation(_("领卡"), services.card_mark_received, form=ReceiveForm),
    "enable": Operation(_("启用（新卡激活）"), services.card_enable),
    "temporary_loss": Operation(_("临时挂失"), services.card_report_temporary_loss),
    "formal_loss": Operation(_("正式挂失"), services.card_report_formal_loss),
    "lift": Operation(_("解挂"), services.card_lift_loss),
    "replace": Operation(_("补换卡"), services.application_replace_at_counter, form=ReplacementForm),
    "correct": Operation(
        _("变更姓名或证件号码（换发新卡）"),
        services.card_correct_data,
        "ecard.correct_holder",
        CorrectionForm,
    ),
    "photo": Operation(_("更新照片"), services.card_renew_photo, form=PhotoForm),
    "unlock_pin": Operation(_("解锁密码"), services.card_unlock_pin),
    "reset_pin": Operation(_("重置密码"), services.card_reset_pin),
    "family_enrol": Operation(
        _("网点发放电子社保卡并加入亲情账户"), services.family_enrol_at_outlet, form=FamilyEnrolForm
    ),
    "cancel": Operation(_("注销"), services.card_cancel, "ecard.cancel_card", CancelForm),
    "activate_financial": Operation(_("金融功能激活（银行网点）"), services.card_activate_financial),
}


class ExpiringFilter(admin.SimpleListFilter):
    title = _("有效期")
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("60d", _("60天内到期")), ("expired", _("已过期"))]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "60d":
            return queryset.filter(
                valid_until__gte=today, valid_until__lte=today + datetime.timedelta(days=60)
            )
        if self.value() == "expired":
            return queryset.filter(valid_until__lt=today)
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "holder_name",
        "holder_id_number",
        "region",
        "state",
        "valid_until",
        "is_received",
        "pin_locked",
        "formalisation_deadline",
        "dates_provisional",
    ]
    list_filter = ["state", "region", ExpiringFilter, "pin_locked", "generation"]
    search_fields = ["number"]  # and a holder's full ID number or phone: get_search_results
    list_select_related = ["holder"]
    show_full_result_count = False
    exclude = ["pin_hash"]
    change_form_template = "admin/ecard/card/change_form.html"

    @admin.display(description=_("持卡人"))
    def holder_name(self, card):
        return card.holder.name_masked

    @admin.display(description=_("证件号码"))
    def holder_id_number(self, card):
        return card.holder.id_number_masked

    @admin.display(description=_("已领取"), boolean=True)
    def is_received(self, card):
        return card.is_received

    @admin.display(description=_("日期待定"), boolean=True)
    def dates_provisional(self, card):
        # Counted over a year whose holidays are not entered yet; recomputed when they are.
        return card.deadline_provisional or card.ready_on_provisional

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        found = holder_search_filter(term, prefix="holder__")
        if found is not None and queryset.filter(found).exists():
            return queryset.filter(found), False
        if term.isalnum() and term.upper() != term.lower() and len(term) >= 6:
            # Card numbers are stored upper case; staff type them either way.
            exact = queryset.filter(number=term.upper())
            if exact.exists():
                return exact, False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/operate/<slug:operation>/",
                self.admin_site.admin_view(self.operate_view),
                name="ecard_card_operate",
            )
        ] + super().get_urls()

    def render_change_form(self, request, context, *args, **kwargs):
        obj = kwargs.get("obj")
        if obj is not None:
            context["operations"] = [
                (name, op.label) for name, op in OPERATIONS.items() if request.user.has_perm(op.permission)
            ]
            if request.user.has_perm("ecard.operate_card"):
                context["certificates"] = selectors.certificates_of(obj)
            context["printed"] = (mask_name(obj.name_on_card), mask_id_number(obj.id_number_on_card))
        return super().render_change_form(request, context, *args, **kwargs)

    def operate_view(self, request, object_id: int, operation: str):
        op = OPERATIONS.get(operation)
        if op is None:
            raise Http404(operation)
        if not request.user.has_perm(op.permission):
            raise PermissionDenied
        card = get_object_or_404(Card, pk=object_id)
        change_url = reverse("admin:ecard_card_change", args=[card.pk])
        posted = request.method == "POST"
        form = op.form(request.POST if posted else None, request.FILES if posted else None)
        if posted and form.is_valid():
            by, params = staff_call(request, form)
            try:
                result = op.service(card=card, by=by, **params)
            except DomainError as exc:
                messages.error(request, f"{op.label}：{exc}")
                return redirect(change_url)
            messages.success(request, _("{operation}：已办理").format(operation=op.label))
            if isinstance(result, CardApplication) and result.new_card_id:
                # The new card's page, where its pick-up certificate is printed.
                messages.info(request, _("请打印领卡证明交给持卡人"))
                result = result.new_card
            if isinstance(result, Card) and result.pk != card.pk:
                return redirect(reverse("admin:ecard_card_change", args=[result.pk]))
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "card": card,
            "operation": op,
            "form": form,
            "change_url": change_url,
            "title": f"{op.label} · {card.number}",
        }
        return TemplateResponse(request, "admin/ecard/card/operate.html", context)


@admin.register(ECard)
class ECardAdmin(ReadOnlyAdmin):
    list_display = ["short_reference", "card", "channel", "issued_at", "password_changed_at"]
    list_filter = ["channel"]
    search_fields = ["card__number"]
    list_select_related = ["card"]
    exclude = ["password_hash"]

    @admin.display(description=_("标识"))
    def short_reference(self, ecard):
        return ecard.reference[:8] + "…"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "action",
        "actor_kind",
        "actor_label",
        "channel",
        "card",
        "state_before",
        "state_after",
        "reason",
        "agent_masked",
    ]

    @admin.display(description=_("代办人"))
    def agent_masked(self, event):
        # In full only on the event's own page.
        if not event.agent_name:
            return ""
        return f"{mask_name(event.agent_name)} ({mask_id_number(event.agent_id_number)})"

    list_filter = ["action", "actor_kind", "channel"]
    search_fields = ["card__number", "action"]
    list_select_related = ["card"]
    date_hierarchy = "at"
    show_full_result_count = False


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    extra = 3


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    list_display = ["year", "note"]
    inlines = [CalendarDayInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The year's days are saved: every date counted provisionally is counted again now.
        changed = services.calendar_year_entered(year=form.instance.year, by=Actor.staff(request.user))
        if changed:
            messages.info(request, _("已按新日历重新计算 {count} 张卡的日期").format(count=changed))


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "holder_name", "milestone", "is_read", "delivered_at"]
    list_filter = ["kind", "milestone", ("delivered_at", admin.EmptyFieldListFilter)]
    list_select_related = ["holder"]
    search_fields = ["kind", "subject"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ["holder"]
    readonly_fields = ["holder_name"]

    @admin.display(description=_("持卡人"))
    def holder_name(self, notice):
        return notice.holder.name_masked

    @admin.display(description=_("已读"), boolean=True)
    def is_read(self, notice):
        return notice.read_at is not None


@admin.register(NoticeDelivery)
class NoticeDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["at", "notice", "channel", "ok", "error"]
    list_filter = ["channel", "ok"]
    list_select_related = ["notice"]


class ProviderForm(forms.ModelForm):
    public_key = forms.CharField(
        label=_("公钥"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Ed25519 / SM2: PEM or base64",
    )

    class Meta:
        model = PaymentProvider
        fields = ["name", "public_key"]

    def clean_public_key(self):
        try:
            assertions.load_public_key(self.cleaned_data["public_key"])
        except ValueError:
            raise forms.ValidationError(str(DomainError("provider.public_key_invalid"))) from None
        return self.cleaned_data["public_key"]


@admin.register(PaymentProvider)
class PaymentProviderAdmin(admin.ModelAdmin):
    """Banks and payment apps: registered with their public key, through the service."""

    form = ProviderForm
    list_display = ["name", "provider_id", "enabled", "created_at"]
    readonly_fields = ["provider_id", "enabled", "created_at"]
    actions = ["disable", "enable"]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name", "public_key"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        # The form checked what the service checks: this registration cannot be refused.
        created = services.provider_register(
            name=form.cleaned_data["name"],
            public_key=form.cleaned_data["public_key"],
            by=Actor.staff(request.user),
        )
        obj.pk, obj.provider_id, obj.public_key = created.pk, created.provider_id, created.public_key

    def _set_enabled(self, request, queryset, enabled):
        for provider in queryset:
            services.provider_set_enabled(provider=provider, enabled=enabled, by=Actor.staff(request.user))

    @admin.action(description=_("停用"), permissions=["change"])
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)

    @admin.action(description=_("启用"), permissions=["change"])
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)


@admin.register(PaymentAgreement)
class PaymentAgreementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "provider", "method", "account_masked", "ended_at", "end_reason"]
    list_filter = ["provider", "method", ("ended_at", admin.EmptyFieldListFilter)]
    list_select_related = ["provider"]
    exclude = ["ecard"]


def action_form(model_admin, request, queryset, form, *, action: str, title):
    """The page an admin action asks its form on, before it acts on the selected rows."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action": action,
        "title": title,
    }
    return TemplateResponse(request, "admin/ecard/action_form.html", context)


class WalkInForm(CounterForm):
    """申领 for someone who walks in with their ID document (and, under 16, a guardian with the
    proof of relationship)."""

    name = forms.CharField(label=_("姓名"), max_length=100)
    id_type = forms.ChoiceField(label=_("证件类型"), choices=IdType.choices)
    id_number = forms.CharField(label=_("证件号码"), max_length=32)
    region = forms.ChoiceField(label=_("发卡省份"), choices=Region.choices)
    phone = forms.CharField(label=_("手机号"), max_length=20, required=False, help_text=_("用于短信验证码"))
    photo = photo_field(required=True)
    guardian_name = forms.CharField(label=_("监护人姓名"), max_length=100, required=False)
    guardian_id_type = forms.ChoiceField(
        label=_("监护人证件类型"), choices=[("", "—"), *IdType.choices], required=False
    )
    guardian_id_number = forms.CharField(label=_("监护人证件号码"), max_length=32, required=False)
    guardian_proof = forms.ChoiceField(
        label=_("监护关系证明"), choices=[("", "—"), *GuardianProof.choices], required=False
    )
    guardian_proof_number = forms.CharField(
        label=_("证明编号"),
        max_length=40,
        required=False,
        help_text=_("未满16周岁：出生医学证明或户口簿的编号"),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("未通过原因"), max_length=200)


@admin.register(CardApplication)
class CardApplicationAdmin(ReadOnlyAdmin):
    """Online applications: staff move a batch a step on (a card factory's batch at once)."""

    list_display = [
        "created_at",
        "kind",
        "state",
        "holder_name",
        "region",
        "delivery",
        "outlet",
        "tracking_number",
    ]
    list_filter = ["state", "kind", "region", "delivery"]
    list_select_related = ["holder"]
    exclude = ["holder", "account", "card", "new_card", "postal_address"]
    actions = ["accept", "start_production", "mark_ready", "mark_collected", "reject"]
    date_hierarchy = "created_at"

    change_list_template = "admin/ecard/cardapplication/change_list.html"

    @admin.display(description=_("持卡人"))
    def holder_name(self, application):
        return application.holder.name_masked

    def has_operate_permission(self, request):
        return request.user.has_perm("ecard.operate_card")

    def get_urls(self):
        return [
            path(
                "walk-in/",
                self.admin_site.admin_view(self.walk_in_view),
                name="ecard_cardapplication_walk_in",
            )
        ] + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_take_walk_ins": self.has_operate_permission(request)}
        return super().changelist_view(request, extra_context)

    def walk_in_view(self, request):
        if not self.has_operate_permission(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = WalkInForm(request.POST if posted else None, request.FILES if posted else None)
        if posted and form.is_valid():
            by, params = staff_call(request, form)
            try:
                application = services.application_new_at_counter(by=by, **params)
            except DomainError as exc:
                messages.error(request, f"{_('窗口申领')}：{exc}")
            else:
                messages.success(request, _("窗口申领：已受理"))
                return redirect(reverse("admin:ecard_cardapplication_change", args=[application.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": _("窗口申领"),
        }
        return TemplateResponse(request, "admin/ecard/cardapplication/walk_in.html", context)

    def _advance(self, request, queryset, to, **params):
        done = 0
        for application in queryset:
            try:
                services.application_advance(
                    application=application, to=to, by=Actor.staff(request.user), **params
                )
                done += 1
            except DomainError as exc:
                messages.error(request, f"{application}: {exc}")
        if done:
            messages.success(request, _("{count} 份申请已更新").format(count=done))

    @admin.action(description=_("受理"), permissions=["operate"])
    def accept(self, request, queryset):
        self._advance(request, queryset, ApplicationState.ACCEPTED)

    @admin.action(description=_("开始制卡"), permissions=["operate"])
    def start_production(self, request, queryset):
        self._advance(request, queryset, ApplicationState.IN_PRODUCTION)

    @admin.action(description=_("已制成待领取"), permissions=["operate"])
    def mark_ready(self, request, queryset):
        self._advance(request, queryset, ApplicationState.READY)

    @admin.action(description=_("已领取"), permissions=["operate"])
    def mark_collected(self, request, queryset):
        self._advance(request, queryset, ApplicationState.COLLECTED)

    @admin.action(description=_("不予通过"), permissions=["operate"])
    def reject(self, request, queryset):
        form = RejectForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._advance(request, queryset, ApplicationState.REJECTED, reason=form.cleaned_data["reason"])
            return None
        return action_form(self, request, queryset, form, action="reject", title=_("不予通过"))


class OutletConsentForm(forms.Form):
    identity_token = forms.CharField(
        label=_("实人认证凭证"),
        max_length=512,
        help_text=_("亲情成员本人在场，经实人认证设备核验后得到的凭证"),
    )


@admin.register(FamilyLink)
class FamilyLinkAdmin(ReadOnlyAdmin):
    """亲情账户: staff record the consent of a member with no smartphone, or end a link at the
    member's request; neither side's full name or ID number is shown."""

    list_display = ["invited_at", "presenter_name", "member_name", "relationship", "state", "consent_channel"]
    list_filter = ["state", "relationship", "consent_channel"]
    list_select_related = ["presenter", "member"]
    exclude = ["presenter", "member"]
    search_fields = ["reference"]  # and a member's or presenter's full ID number or phone

    def get_search_results(self, request, queryset, search_term):
        member = holder_search_filter(search_term, prefix="member__")
        if member is not None:
            presenter = holder_search_filter(search_term, prefix="presenter__")
            return queryset.filter(member | presenter), False
        return super().get_search_results(request, queryset, search_term)

    actions = ["record_consent", "end_link"]

    @admin.display(description=_("代为出示人"))
    def presenter_name(self, link):
        return f"{link.presenter.name_masked} ({link.presenter.id_number_masked})"

    @admin.display(description=_("亲情成员"))
    def member_name(self, link):
        return f"{link.member.name_masked} ({link.member.id_number_masked})"

    def has_operate_permission(self, request):
        return request.user.has_perm("ecard.operate_card")

    @admin.action(description=_("记录本人同意（实人认证）"), permissions=["operate"])
    def record_consent(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, _("请一次选择一个亲情账户：须亲情成员本人在场办理。"))
            return None
        form = OutletConsentForm(request.POST if "identity_token" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                services.family_consent_at_outlet(
                    link=queryset.get(),
                    identity_token=form.cleaned_data["identity_token"],
                    by=Actor.staff(request.user),
                )
            except DomainError as exc:
                messages.error(request, str(exc))
                return None
            messages.success(request, _("已记录亲情成员本人同意"))
            return None
        return action_form(
            self, request, queryset, form, action="record_consent", title=_("记录本人同意（实人认证）")
        )

    @admin.action(description=_("应亲情成员要求解除"), permissions=["operate"])
    def end_link(self, request, queryset):
        for link in queryset:
            try:
                services.family_end(link=link, by=Actor.staff(request.user), reason="member_ended")
            except DomainError as exc:
                messages.error(request, f"{link}: {exc}")


@admin.register(RegionSetting)
class RegionSettingAdmin(admin.ModelAdmin):
    list_display = ["region", "third_generation"]
    list_editable = ["third_generation"]
