"""/scanner-demo: paste or upload a code and see what a scanner would be told (DEBUG only).

It verifies through a demo device registered on first use, exactly as the online verify API
does for a real one; only the device's signed assertion is skipped, since the page is the
device. Off unless SCANNER_DEMO (DEBUG by default): in production it is a 404.
"""

from __future__ import annotations

import base64
import io

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django import forms
from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ecard.audit import Actor
from ecard.matrix import Purpose
from plumbing.errors import CATALOGUE, DomainError

from . import verifier
from .models import ScannerDevice, ScannerKind
from .services import scanners, verify_online

DEMO_ORGANISATION = "扫码演示设备"


class DemoForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("二维码内容"),
        required=False,
        max_length=512,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    image = forms.ImageField(label=gettext_lazy("或上传二维码图片"), required=False)

    def clean(self):
        data = super().clean()
        if not data.get("code") and not data.get("image"):
            raise forms.ValidationError(_("请粘贴二维码内容或上传图片"))
        return data


def _decoded(upload) -> str | None:
    # zxing-cpp reads codes in tests too; imported here since only this page needs it at run time.
    import zxingcpp
    from PIL import Image

    with Image.open(io.BytesIO(upload.read())) as image:
        found = zxingcpp.read_barcodes(image.convert("L"))
    return found[0].text if found else None


def demo_device() -> scanners.Device:
    with transaction.atomic():
        row = ScannerDevice.objects.filter(organisation=DEMO_ORGANISATION).first()
        if row is None:
            # A device must have a key; nobody holds this one's private half.
            raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            row = scanners.scanner_register(
                organisation=DEMO_ORGANISATION,
                kind=ScannerKind.MEDICAL,
                purposes=list(verifier.PURPOSE_CODES),
                public_key=base64.b64encode(raw).decode(),
                by=Actor.system("scanner_demo"),
            )
    device = scanners.device_get(row.device_id)
    if device is None:  # registered a moment ago, inside this transaction
        raise RuntimeError("the demo scanner vanished")
    return device


def scanner_demo(request):
    if not settings.SCANNER_DEMO:
        raise Http404
    form = DemoForm(request.POST, request.FILES) if request.method == "POST" else DemoForm()
    outcome = reason = None
    code = ""
    if form.is_bound and form.is_valid():
        code = form.cleaned_data["code"].strip()
        if form.cleaned_data["image"]:
            code = _decoded(form.cleaned_data["image"]) or ""
            if not code:
                form.add_error("image", _("图片中未找到二维码"))
        if code:
            outcome = verify_online(device=demo_device(), text=code)
            if outcome.code in CATALOGUE:
                reason = DomainError(outcome.code).message
    purposes = dict(Purpose.choices)
    return render(
        request,
        "codes/scanner_demo.html",
        {
            "form": form,
            "outcome": outcome,
            "reason": reason,
            "purpose": purposes.get(outcome.purpose) if outcome else None,
        },
    )
