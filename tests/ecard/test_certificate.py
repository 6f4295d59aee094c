"""The pick-up certificate (领卡证明): a PDF a real reader renders, whose QR code a hospital's
scanner accepts until the new card is collected."""

import shutil
import subprocess

import pytest
import zxingcpp
from django.conf import settings
from PIL import Image

from ecard import services
from ecard.audit import Actor
from ecard.models import CardApplication
from tests.support import SCREENSHOTS, issue_code

pytestmark = pytest.mark.django_db
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is installed by .ci/run"
)


def apply_for_replacement(holder, kind="replacement_loss"):
    response = holder.api.post(
        "/api/v1/card-applications",
        {
            "kind": kind,
            "identity_token": settings.IDENTITY_DEV_TOKEN,
            "delivery": "outlet",
            "outlet": "东城区网点",
        },
        format="multipart",
        **holder.auth,
    )
    assert response.status_code == 201, response.json()
    return response.json()


def qr_of(pdf: bytes, tmp_path) -> str:
    """Render page 1 as a person's PDF reader would, and read the QR code off the picture."""
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")],
        check=True,
    )
    [page] = sorted(tmp_path.glob("page*.png"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(page, SCREENSHOTS / "certificate.png")
    [barcode] = zxingcpp.read_barcodes(Image.open(page))
    return barcode.text


def text_of(pdf: bytes, tmp_path) -> str:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(source), "-"], check=True, capture_output=True, text=True).stdout


@needs_poppler
def test_the_certificate_is_worded_in_the_requests_language(app_holder, tmp_path):
    app_holder.post("/api/v1/card/loss-report")
    application = apply_for_replacement(app_holder)
    url = f"/api/v1/card-applications/{application['id']}/certificate.pdf"
    chinese = text_of(app_holder.get(url).content, tmp_path)
    english = text_of(app_holder.get(url, HTTP_ACCEPT_LANGUAGE="en").content, tmp_path)
    assert "社会保障卡领卡证明" in chinese and "咨询电话：12333" in chinese
    assert app_holder.card.holder.name_masked in chinese and app_holder.card.holder.name not in chinese
    assert "Social security card collection certificate" in english and "Hotline: 12333" in english
    assert "领卡证明" not in english


@needs_poppler
def test_a_hospital_scanner_accepts_the_certificate_until_the_new_card_is_collected(
    app_holder, make_scanner, clerk, tmp_path
):
    app_holder.post("/api/v1/card/loss-report")
    application = apply_for_replacement(app_holder)
    response = app_holder.get(f"/api/v1/card-applications/{application['id']}/certificate.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert (
        response.content.startswith(b"%PDF") and b"FontFile2" in response.content
    )  # the CJK font is embedded
    text = qr_of(response.content, tmp_path)
    assert text.startswith("EC1:")
    hospital = make_scanner(organisation="北京协和医院", kind="medical", purposes=("payment", "certificate"))
    verdict = hospital.verdict(text)
    assert verdict["result"] == "accepted" and verdict["purpose"] == "certificate"
    assert verdict["holder"] == app_holder.card.holder.name_masked
    assert hospital.verdict(text)["result"] == "accepted"  # shown at every visit, not spent

    row = CardApplication.objects.get(public_id=application["id"])
    for step in ("accepted", "in_production", "ready", "collected"):
        services.application_advance(application=row, to=step, by=Actor.staff(clerk))
    assert hospital.verdict(text)["code"] == "certificate.collected"
    again = app_holder.get(f"/api/v1/card-applications/{application['id']}/certificate.pdf")
    assert again.status_code == 409 and again.json()["code"] == "certificate.not_available"


def test_the_certificate_is_never_accepted_offline_nor_by_a_scanner_not_registered_for_it(
    app_holder, scanner
):
    from codes import verifier
    from codes.services import certificate_code

    application = CardApplication.objects.get(
        public_id=apply_for_replacement(app_holder, "replacement_damage")["id"]
    )
    text = certificate_code(application=application)
    keyset = verifier.KeySet.from_jwks(scanner.api.get("/api/v1/scanner/keys").json())
    revocations = verifier.RevocationList()
    revocations.apply(scanner.api.get("/api/v1/scanner/revocations", **scanner.auth()).json()["jws"], keyset)
    assert verifier.Verifier(keyset, revocations).verify(text).code == "code.online_only"
    assert scanner.verdict(text)["code"] == "code.purpose_not_allowed"  # a gate, not a hospital


def test_a_withdrawn_replacements_certificate_is_void(app_holder, make_scanner):
    from codes.services import certificate_code

    created = apply_for_replacement(app_holder, "replacement_damage")
    application = CardApplication.objects.get(public_id=created["id"])
    text = certificate_code(application=application)
    app_holder.post(f"/api/v1/card-applications/{created['id']}/withdraw")
    hospital = make_scanner(organisation="医院", kind="medical", purposes=("certificate",))
    assert hospital.verdict(text)["code"] == "certificate.void"
    assert hospital.verdict(issue_code(app_holder, "identity"))["code"] == "code.purpose_not_allowed"


def test_a_new_card_application_has_no_certificate_and_others_cannot_fetch_one(app_holder, other_app_holder):
    created = apply_for_replacement(app_holder, "replacement_damage")
    response = other_app_holder.get(f"/api/v1/card-applications/{created['id']}/certificate.pdf")
    assert response.status_code == 404 and response.json()["code"] == "application.not_found"


def test_without_its_font_the_certificate_is_a_clear_503(app_holder, settings):
    from reportlab.pdfbase import pdfmetrics

    from codes import certificates

    created = apply_for_replacement(app_holder, "replacement_damage")
    settings.CERTIFICATE_FONT = "/nonexistent/font.ttc"
    pdfmetrics._fonts.pop(certificates.FONT, None)
    response = app_holder.get(f"/api/v1/card-applications/{created['id']}/certificate.pdf")
    assert response.status_code == 503 and response.json()["code"] == "certificate.font_missing"
