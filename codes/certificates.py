"""The pick-up certificate (领卡证明) of a replacement, as a PDF: hospitals accept it for manual
reimbursement while the new card is being made [seed 002]. Its QR code is signed like the
e-card codes and checked online: good until the new card is collected.

reportlab draws it; the Chinese text is set in an embedded TrueType CJK font
(``CERTIFICATE_FONT``), so the PDF reads the same on any reader.
"""

from __future__ import annotations

import io
from pathlib import Path

import qrcode
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ecard.models import CardApplication
from plumbing.errors import DomainError

from .services import certificate_code

FONT = "ecard-cjk"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        path = Path(settings.CERTIFICATE_FONT)
        if not path.is_file():
            raise DomainError("certificate.font_missing")
        pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=0))
    return FONT


def certificate_pdf(*, application: CardApplication) -> bytes:
    font = _font()
    text = certificate_code(application=application)
    holder, old, new = application.holder, application.card, application.new_card
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=8)
    qr.add_data(text)
    qr.make(fit=True)
    image = io.BytesIO()
    qr.make_image().save(image, format="PNG")
    image.seek(0)

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    title = _("社会保障卡领卡证明")
    page.setTitle(title)
    width, height = A4
    page.setFont(font, 20)
    page.drawCentredString(width / 2, height - 30 * mm, title)
    page.setFont(font, 11)
    unknown = "—"
    lines = [
        _("持卡人：{name}    证件号码：{id_number}").format(
            name=holder.name_masked, id_number=holder.id_number_masked
        ),
        _("原卡号：{old}    新卡号：{new}").format(
            old=old.number_masked if old else unknown, new=new.number_masked if new else unknown
        ),
        _("办理类型：{kind}").format(kind=application.get_kind_display()),
        _("申请日期：{applied}    预计可领：{ready}").format(
            applied=f"{timezone.localtime(application.created_at):%Y-%m-%d}",
            ready=new.ready_on if new and new.ready_on else unknown,
        ),
        _("领取方式：{how}").format(how=application.outlet or _("邮寄")),
        *_(
            "新卡制作期间，本证明可作为参保凭证，在定点医疗机构办理手工报销。\n"
            "扫码核验本证明；领取新卡后本证明失效。"
        ).splitlines(),
        _("咨询电话：12333"),
    ]
    y = height - 55 * mm
    for line in lines:
        page.drawString(25 * mm, y, line)
        y -= 8 * mm
    size = 60 * mm
    page.drawImage(ImageReader(image), (width - size) / 2, y - size - 5 * mm, size, size)
    page.showPage()
    page.save()
    return out.getvalue()
