"""A holder journey over HTTP against the running stack (deploy/stack.py start).

Imports a card, registers, applies for the e-card, issues a code, verifies it as a
scanner (and its replay), reports the card lost, and waits for a notice that only the
real Celery worker can produce. Exits non-zero at the first thing that is not right.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402

BASE = f"http://127.0.0.1:{stack.PORT}"


def sms_code(phone: str) -> str:
    """The code the console channel printed to the web log for this phone, as the phone got it."""
    import re

    pattern = re.compile(rf"\[sms to {phone}\] 【电子社保卡】验证码(\d{{6}})")
    for _ in range(50):
        found = pattern.findall((stack.STATE / "web.log").read_text())
        if found:
            return found[-1]
        time.sleep(0.1)
    raise SystemExit(f"no SMS to {phone} in {stack.STATE / 'web.log'}")


def call(method: str, path: str, body=None, token=None) -> tuple[int, dict]:
    request = urllib.request.Request(BASE + path, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(request, data=data, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def expect(condition: bool, what: str, detail="") -> None:
    print(("  ok    " if condition else "  FAIL  ") + what)
    if not condition:
        raise SystemExit(f"smoke failed: {what} {detail}")


def manage(*args) -> str:
    result = subprocess.run(
        [str(stack.BIN / "python"), "manage.py", *args],
        cwd=stack.ROOT,
        env=stack.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from stdnum.cn import ric

    from codes.verifier import device_assertion

    run = secrets.randbelow(900) + 100
    body = f"11010519850314{run:03d}"
    id_number = body + ric.calc_check_digit(body + "0")
    card_number = f"S{secrets.randbelow(10**8):08d}"
    phone = f"139{secrets.randbelow(10**8):08d}"
    today = datetime.date.today()
    with tempfile.TemporaryDirectory() as scratch:
        csv = Path(scratch) / "cards.csv"
        csv.write_text(
            "name,id_type,id_number,phone,region,card_number,generation,issued_on,valid_until,received,state\n"
            f"王冒烟,resident_id,{id_number},{phone},11,{card_number},3,"
            f"{today - datetime.timedelta(days=3600)},{today + datetime.timedelta(days=40)},yes,active\n",
            encoding="utf-8",
        )
        expect("1 created" in manage("import_cards", str(csv)), "import_cards loads the card centre's file")

        status, _ = call("POST", "/api/v1/auth/register", {"phone": phone, "password": "Smoke-test-2026"})
        expect(status == 201, "register", status)
        status, tokens = call("POST", "/api/v1/auth/token", {"phone": phone, "password": "Smoke-test-2026"})
        expect(status == 200 and "access" in tokens, "sign in")
        access = tokens["access"]
        named = {"name": "王冒烟", "id_number": id_number, "card_number": card_number}
        status, sent = call("POST", "/api/v1/ecard/apply/challenge", named, access)
        expect(status == 201 and sent["phone_masked"].endswith(phone[-4:]), "a binding code by SMS", sent)
        apply = {
            **named,
            "challenge_id": sent["challenge_id"],
            "sms_code": sms_code(phone),
            "identity_token": "dev-real-person-ok",
            "password": "802461",
        }
        status, ecard = call("POST", "/api/v1/ecard/apply", apply, access)
        expect(status == 201 and ecard["card"]["state"] == "active", "apply for the e-card", ecard)
        expect(id_number not in json.dumps(ecard), "the response masks the ID number")

        status, refused = call("POST", "/api/v1/codes", {"purpose": "payment"}, access)
        expect(status == 409 and refused["code"] == "card.initial_pin", "the initial PIN cannot pay", refused)
        status, _ = call("POST", "/api/v1/card/pin", {"old_pin": "123456", "new_pin": "740285"}, access)
        expect(status == 200, "change the initial PIN in the app", status)
        status, code = call("POST", "/api/v1/codes", {"purpose": "payment"}, access)
        expect(status == 201 and code["code"].startswith("EC1:"), "issue a payment code")

        key = Ed25519PrivateKey.generate()
        key_file = Path(scratch) / "gate.pub"
        key_file.write_text(base64.b64encode(key.public_key().public_bytes_raw()).decode())
        device = manage(
            "register_scanner",
            "--org",
            "冒烟药房",
            "--kind",
            "medical",
            "--purposes",
            "payment,identity",
            "--public-key",
            str(key_file),
        )
        device_token = device_assertion(device, key)
        status, verdict = call("POST", "/api/v1/scanner/verify", {"code": code["code"]}, device_token)
        expect(status == 200 and verdict["result"] == "accepted", "the scanner accepts the code", verdict)
        status, verdict = call("POST", "/api/v1/scanner/verify", {"code": code["code"]}, device_token)
        expect(verdict.get("code") == "code.replayed", "a second scan is a replay", verdict)

        status, ecard = call("POST", "/api/v1/card/loss-report", None, access)
        expect(status == 200 and ecard["card"]["state"] == "temporarily_lost", "report the card lost")
        status, refused = call("POST", "/api/v1/codes", {"purpose": "payment"}, access)
        expect(
            status == 409 and refused["code"] == "authorisation.required",
            "no code while lost without consent",
        )

        status, usage = call("GET", "/api/v1/ecard/usage", None, access)
        expect(status == 200 and usage["count"] == 2, "the scans show in the holder's usage", usage)

        # Found again: a card reported lost is not told to renew, one in the pocket is.
        status, ecard = call(
            "POST", "/api/v1/card/loss-lift", {"identity_token": "dev-real-person-ok"}, access
        )
        expect(
            status == 200 and ecard["card"]["state"] == "active",
            "lift the loss when the card is found",
            ecard,
        )

        subprocess.run(
            [str(stack.BIN / "celery"), "-A", "config", "call", "ecard.expiry_notices"],
            cwd=stack.ROOT,
            env=stack.environment(),
            check=True,
            capture_output=True,
        )
        for _ in range(60):
            status, notices = call("GET", "/api/v1/notices", None, access)
            if any(n["kind"] == "card.expiring" for n in notices.get("results", [])):
                break
            time.sleep(0.5)
        expect(
            any(n["kind"] == "card.expiring" for n in notices.get("results", [])),
            "the worker's expiry notice reaches the inbox",
            notices,
        )

        with urllib.request.urlopen(BASE + "/metrics", timeout=5) as response:
            metrics = response.read().decode()
        expect(
            'ecard_verifications_total{purpose="payment",result="accepted"}' in metrics, "metrics count it"
        )
    print("smoke: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
