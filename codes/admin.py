"""Staff: scanner devices, QR signing keys, scan records with a daily count per purpose."""

from __future__ import annotations

import datetime
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ecard.admin import ReadOnlyAdmin
from ecard.audit import Actor
from ecard.models import CardApplication
from plumbing.errors import DomainError

from . import keys, services
from .certificates import certificate_pdf
from .models import Revocation, ScannerDevice, ScanRecord, SigningKey
from .verifier import PURPOSE_CODES


class DeviceForm(forms.ModelForm):
    """Registration and key rotation through the services; the key is checked before saving."""

    purposes = forms.MultipleChoiceField(
        label=_("可受理用途"),
        choices=[(p, p) for p in PURPOSE_CODES],
        widget=forms.CheckboxSelectMultiple,
    )
    public_key = forms.CharField(
        label=_("设备公钥"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Ed25519 / SM2: PEM or base64",
    )

    class Meta:
        model = ScannerDevice
        fields = ["organisation", "kind", "purposes", "public_key"]

    def clean_public_key(self):
        text = self.cleaned_data["public_key"]
        try:
            services.scanners.load_public_key(text)
        except DomainError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


@admin.register(ScannerDevice)
class ScannerDeviceAdmin(admin.ModelAdmin):
    form = DeviceForm
    list_display = ["device_id", "organisation", "kind", "purposes", "enabled", "last_seen_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["device_id", "organisation"]
    actions = ["disable", "enable"]
    readonly_fields = ["device_id", "enabled", "created_at", "last_seen_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organisation", "kind", "purposes", "public_key"]
        return [
            "device_id",
            "organisation",
            "kind",
            "purposes",
            "public_key",
            "enabled",
            "created_at",
            "last_seen_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["organisation", "kind", "purposes"] if obj else [])

    def save_model(self, request, obj, form, change):
        by = Actor.staff(request.user)
        data = form.cleaned_data
        if not change:
            device = services.scanner_register(
                organisation=data["organisation"],
                kind=data["kind"],
                purposes=data["purposes"],
                public_key=data["public_key"],
                by=by,
            )
            obj.pk = device.pk
            messages.success(request, _("设备号：{device_id}").format(device_id=device.device_id))
        elif "public_key" in form.changed_data:
            current = ScannerDevice.objects.get(pk=obj.pk)
            services.scanner_rotate_key(device=current, public_key=data["public_key"], by=by)

    @admin.action(description=_("停用所选设备"))
    def disable(self, request, queryset):
        for device in queryset:
            services.scanner_set_enabled(device=device, enabled=False, by=Actor.staff(request.user))

    @admin.action(description=_("启用所选设备"))
    def enable(self, request, queryset):
        for device in queryset:
            services.scanner_set_enabled(device=device, enabled=True, by=Actor.staff(request.user))


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "kid",
        "algorithm",
        "state_now",
        "created_at",
        "activates_at",
        "deactivated_at",
        "retires_at",
    ]
    exclude = ["public_key"]
    change_list_template = "admin/tokens/signingkey/change_list.html"

    @admin.display(description=_("状态"))
    def state_now(self, key):
        return key.state()

    def get_urls(self):
        return [
            path(
                "rotate/",
                self.admin_site.admin_view(self.rotate_view),
                name="tokens_signingkey_rotate",
            )
        ] + super().get_urls()

    def rotate_view(self, request):
        if request.method != "POST" or not request.user.has_perm("tokens.add_signingkey"):
            raise PermissionDenied
        key = keys.signing_key_rotate()
        messages.success(
            request,
            _("{kid}：已发布，{at} 起签名").format(kid=key.kid, at=f"{key.activates_at:%Y-%m-%d %H:%M}"),
        )
        return redirect(reverse("admin:tokens_signingkey_changelist"))


@admin.register(ScanRecord)
class ScanRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "scanned_at",
        "device",
        "purpose",
        "result",
        "reason",
        "authorised_by_holder",
        "offline",
        "replay",
    ]
    list_filter = ["purpose", "result", "replay", "offline", "device__kind", "device"]
    list_select_related = ["device"]
    date_hierarchy = "scanned_at"
    show_full_result_count = False
    change_list_template = "admin/tokens/scanrecord/change_list.html"

    def changelist_view(self, request, extra_context=None):
        services.scan_records_flush()
        since = timezone.localdate() - datetime.timedelta(days=6)
        daily = (
            ScanRecord.objects.filter(scanned_at__date__gte=since)
            .annotate(day=TruncDate("scanned_at"))
            .values("day", "purpose", "result")
            .annotate(n=Count("id"))
            .order_by("-day", "purpose", "result")
        )
        return super().changelist_view(request, {**(extra_context or {}), "daily_counts": list(daily)})


@admin.register(Revocation)
class RevocationAdmin(ReadOnlyAdmin):
    list_display = ["id", "reason", "not_before", "lifted", "created_at"]
    list_filter = ["reason", "lifted"]


def staff_certificate(request, application_id):
    """The pick-up certificate (领卡证明) of a replacement, printed at the counter from the card's
    page: for every replacement and renewal, taken at the counter or in the app. Lives here, not
    beside the card page: the card domain never imports codes."""
    if not request.user.has_perm("ecard.operate_card"):
        raise PermissionDenied
    try:
        application = CardApplication.objects.select_related("holder", "card", "new_card").get(
            public_id=uuid.UUID(str(application_id))
        )
    except (ValueError, CardApplication.DoesNotExist):
        raise Http404 from None
    try:
        pdf = certificate_pdf(application=application)
    except DomainError as exc:
        messages.error(request, str(exc))
        card = application.new_card or application.card
        return redirect(reverse("admin:ecard_card_change", args=[card.pk]))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'inline; filename="certificate.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
