"""Scanners and keys through the management commands and the admin."""

from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.urls import reverse

from codes.models import ScannerDevice, ScanRecord, SigningKey
from tests.support import issue_code

pytestmark = pytest.mark.django_db


def public_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_register_scanner_prints_the_new_device_id(tmp_path):
    key = tmp_path / "gate.pem"
    key.write_text(public_pem())
    out = StringIO()
    call_command(
        "register_scanner",
        "--org",
        "北京地铁",
        "--kind",
        "transit_gate",
        "--purposes",
        "transit,identity",
        "--public-key",
        str(key),
        stdout=out,
    )
    device = ScannerDevice.objects.get(device_id=out.getvalue().strip())
    assert device.purposes == ["identity", "transit"] and device.enabled


def test_register_scanner_takes_a_raw_base64_key(tmp_path):
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key = tmp_path / "gate.b64"
    import base64

    key.write_text(base64.b64encode(raw).decode())
    call_command(
        "register_scanner",
        "--org",
        "首都图书馆",
        "--kind",
        "culture",
        "--purposes",
        "culture",
        "--public-key",
        str(key),
        stdout=StringIO(),
    )
    assert ScannerDevice.objects.count() == 1


def test_register_scanner_refuses_a_bad_key(tmp_path):
    key = tmp_path / "bad.pem"
    key.write_text("not a key")
    with pytest.raises(CommandError, match="设备公钥无效"):
        call_command(
            "register_scanner",
            "--org",
            "x",
            "--kind",
            "culture",
            "--purposes",
            "culture",
            "--public-key",
            str(key),
            stdout=StringIO(),
        )
    assert not ScannerDevice.objects.exists()


def test_rotate_signing_key_publishes_a_key():
    out = StringIO()
    call_command("rotate_signing_key", stdout=out)
    assert SigningKey.objects.count() == 1 and "published" in out.getvalue()


def test_a_supervisor_registers_a_device_in_the_admin_and_disables_it(client, supervisor):
    client.force_login(supervisor)
    response = client.post(
        reverse("admin:tokens_scannerdevice_add"),
        {"organisation": "同仁堂", "kind": "medical", "purposes": ["payment"], "public_key": public_pem()},
    )
    assert response.status_code == 302
    device = ScannerDevice.objects.get()
    assert device.device_id.startswith("dev_") and device.purposes == ["payment"]
    client.post(
        reverse("admin:tokens_scannerdevice_changelist"),
        {"action": "disable", "_selected_action": [device.pk]},
    )
    assert not ScannerDevice.objects.get().enabled


def test_a_bad_key_in_the_admin_form_is_refused(client, supervisor):
    client.force_login(supervisor)
    response = client.post(
        reverse("admin:tokens_scannerdevice_add"),
        {"organisation": "同仁堂", "kind": "medical", "purposes": ["payment"], "public_key": "nope"},
    )
    assert response.status_code == 200 and not ScannerDevice.objects.exists()


def test_a_supervisor_rotates_the_signing_key_and_an_auditor_may_not(client, supervisor, auditor):
    client.force_login(auditor)
    assert client.post(reverse("admin:tokens_signingkey_rotate")).status_code == 403
    client.force_login(supervisor)
    client.post(reverse("admin:tokens_signingkey_rotate"))
    assert SigningKey.objects.count() == 1
    page = client.get(reverse("admin:tokens_signingkey_changelist")).content.decode()
    assert "signing" in page


def test_scan_records_show_filters_and_a_daily_count(client, auditor, app_holder, scanner):
    text = issue_code(app_holder)
    scanner.verdict(text)
    scanner.verdict(text)
    client.force_login(auditor)
    page = client.get(reverse("admin:tokens_scanrecord_changelist")).content.decode()
    assert "近7日每日扫码量" in page and "code.replayed" in page
    filtered = client.get(reverse("admin:tokens_scanrecord_changelist"), {"result__exact": "accepted"})
    assert filtered.status_code == 200 and ScanRecord.objects.count() == 2
