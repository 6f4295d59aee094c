"""bench/national: the national cryptography profile and personal data at rest, as ratios
against baselines measured in the same run.

- ``sm2``: the offline verifier checking codes signed by an SM2 key, against a bare tongsuopy
  SM2 verification of the same bytes (key loaded, DER signature ready); and the QR version
  (level M) of an SM2-signed code.
- ``pii``: finding a holder by ID number through the blind index (HMAC of the number, an
  index lookup, the sealed columns opened) against a plain indexed lookup of the same
  number in a table of the same shape with the number in clear.

The last two lines read ``sm2: verify/raw=R qr_version=V`` (targets ≥ 0.85, ≤ 7) and
``pii: lookup/plain=R`` (target ≥ 0.7).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_rates, qr_version, reachable  # noqa: E402

ROUNDS = 7
HOLDERS = int(os.environ.get("BENCH_PII_HOLDERS", "20000"))


# --------------------------------------------------------------------------- sm2


def bench_sm2() -> tuple[float, int]:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from codes import verifier
    from plumbing import national

    scheme = verifier.ALGORITHMS["SM2"]
    private = scheme.generate()
    now = int(time.time())
    jwk = {**scheme.jwk_fields(scheme.public_raw(private.public_key())), "kid": "5e2a0c0d", "nbf": now - 60}
    gate = verifier.Verifier(verifier.KeySet.from_jwks({"keys": [jwk]}), None)
    texts = [
        verifier.encode(
            purpose="transit",
            kid="5e2a0c0d",
            ecard=f"{i:024x}",
            issued_at=now,
            lifetime=60,
            nonce=i.to_bytes(8, "big"),
            authorised_by_holder=False,
            sign=lambda body: scheme.sign(private, body),
        )
        for i in range(200)
    ]
    public = private.public_key()
    bare = []
    for text in texts:
        code = verifier.parse(text)
        r, s = int.from_bytes(code.signature[:32], "big"), int.from_bytes(code.signature[32:], "big")
        bare.append((encode_dss_signature(r, s), code.body))

    n = 400

    def raw():
        for i in range(n):
            signature, body = bare[i % len(bare)]
            public.verify(signature, body, national._SM2_SM3)

    def checked():
        for i in range(n):
            gate.check(texts[i % len(texts)])

    rates = interleaved_rates({"raw": raw, "gate": checked}, n, ROUNDS)
    raw_rate, gate_rate = rates["raw"], rates["gate"]
    print(f"  sm2      raw tongsuopy verify {raw_rate:7.0f}/s   verifier.check {gate_rate:7.0f}/s")
    version = qr_version(texts[0])
    print(f"  sm2      transit code {len(texts[0])} characters, version {version} at level M")
    return gate_rate / raw_rate, version


# --------------------------------------------------------------------------- pii


def setup_django(scratch: Path) -> str:
    env = {
        "SECRET_KEY": "bench-only",
        "QR_SIGNING_KEYS_DIR": str(scratch / "qr"),
        "PII_KEYS_DIR": str(scratch / "pii"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
    }
    if reachable(5432):
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS ecard_bench_pii WITH (FORCE)")
            conn.execute("CREATE DATABASE ecard_bench_pii")
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/ecard_bench_pii"
    else:
        env["DATABASE_URL"] = f"sqlite:///{scratch / 'pii.sqlite3'}"
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "PostgreSQL" if reachable(5432) else "SQLite"


def bench_pii() -> float:
    import datetime
    import random
    import uuid

    from django.db import connection, models, transaction

    from accounts.models import Holder

    class PlainHolder(models.Model):
        """The baseline: a holder's table as it was before sealing, the number in clear and
        indexed (the same columns, so only what sealing adds is measured)."""

        public_id = models.UUIDField(default=uuid.uuid4, unique=True)
        name = models.CharField(max_length=100)
        id_type = models.CharField(max_length=32)
        id_number = models.CharField(max_length=32, db_index=True)
        person_key = models.CharField(max_length=48, unique=True)
        date_of_birth = models.DateField(null=True)
        phone = models.CharField(max_length=20, blank=True)
        guardian = models.ForeignKey("self", null=True, on_delete=models.PROTECT)
        guardian_proof = models.CharField(max_length=32, blank=True)
        created_at = models.DateTimeField(auto_now_add=True)

        class Meta:
            app_label = "bench"
            db_table = "bench_plain_holder"

        def __str__(self) -> str:
            return self.id_number

    with connection.schema_editor() as editor:
        editor.create_model(PlainHolder)
    numbers = [f"11010519850314{i:04d}" for i in range(HOLDERS)]
    born = datetime.date(1985, 3, 14)
    with transaction.atomic():
        Holder.objects.bulk_create(
            [
                Holder(
                    name="张三丰",
                    id_type="resident_id",
                    id_number=number,
                    id_number_index=number,
                    id_number_masked_index=number[:4] + "*" * 10 + number[-4:],
                    person_key=f"cn:{number}",
                    date_of_birth=born,
                    phone="13900000000",
                    phone_index="13900000000",
                )
                for number in numbers
            ],
            batch_size=2000,
        )
        PlainHolder.objects.bulk_create(
            [
                PlainHolder(
                    name="张三丰",
                    id_type="resident_id",
                    id_number=number,
                    person_key=f"cn:{number}",
                    date_of_birth=born,
                    phone="13900000000",
                )
                for number in numbers
            ],
            batch_size=2000,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    wanted = random.Random(3).sample(numbers, 500)

    n = 1000

    def sealed():
        for i in range(n):
            holder = Holder.objects.get(id_number_index=wanted[i % len(wanted)])
            assert holder.name == "张三丰"

    def plain():
        for i in range(n):
            holder = PlainHolder.objects.get(id_number=wanted[i % len(wanted)])
            assert holder.name == "张三丰"

    rates = interleaved_rates({"plain": plain, "sealed": sealed}, n, ROUNDS)
    plain_rate, sealed_rate = rates["plain"], rates["sealed"]
    print(f"  pii      plain indexed lookup {plain_rate:7.0f}/s   blind-index lookup {sealed_rate:7.0f}/s")
    return sealed_rate / plain_rate


def main():
    print("bench/national: SM2 codes and personal data at rest")
    sm2_ratio, version = bench_sm2()
    with tempfile.TemporaryDirectory() as scratch:
        backend = setup_django(Path(scratch))
        print(f"  pii      {HOLDERS} holders on {backend}")
        pii_ratio = bench_pii()
    print(f"sm2: verify/raw={sm2_ratio:.2f} qr_version={version}")
    print(f"pii: lookup/plain={pii_ratio:.2f}")


if __name__ == "__main__":
    main()
