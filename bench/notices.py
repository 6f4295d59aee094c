"""bench/notices: the expiry job over N cards on PostgreSQL, in one process.

For N = 100 000 and 1 000 000 cards (validity dates spread over ten years, so about 1.7 %
are inside the 60-day window), it times the job — every primary-key chunk scanned and the
notices of the expiring cards written — and, as the same run's baseline, a plain scan of
the same chunks that writes nothing. It prints the expiry query's EXPLAIN. The last line
reads ``notices: cards_per_s=N index=yes|no`` for the largest N.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import reachable

ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(n) for n in os.environ.get("BENCH_NOTICE_SIZES", "100000,1000000").split(",")]


def setup(scratch: Path) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ecard_bench_notices WITH (FORCE)")
        conn.execute("CREATE DATABASE ecard_bench_notices")
    os.environ.update(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ecard_bench_notices",
            "SECRET_KEY": "bench-only",
            "QR_SIGNING_KEYS_DIR": str(scratch / "qr"),
            "PII_KEYS_DIR": str(scratch / "pii"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            # Delivery is another worker's job: queue it (in memory) instead of running it here.
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(total: int) -> None:
    """Holders and cards straight in SQL: a million through the services would take an hour."""
    from django.db import connection

    from plumbing import pii

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE ecard_notice, ecard_auditevent, ecard_card, accounts_holder RESTART IDENTITY CASCADE"
        )
        # Sealed as the service seals them (one sealed value serves every row: the associated
        # data is the column, not the row); the indexes are unique hex digests like real ones.
        cursor.execute(
            """
            INSERT INTO accounts_holder
                (public_id, name, id_type, id_number, id_number_index, id_number_masked_index,
                 person_key, phone, phone_index, guardian_proof, created_at)
            SELECT gen_random_uuid(), %s, 'resident_id', %s,
                   encode(sha256(lpad(i::text, 18, '0')::bytea), 'hex'), '',
                   encode(sha256(('cn:' || lpad(i::text, 18, '0'))::bytea), 'hex'), '', '', '', now()
            FROM generate_series(1, %s) AS i
            """,
            [
                pii.seal("持卡人", "accounts.holder.name"),
                pii.seal("110105198503140021", "accounts.holder.id_number"),
                total,
            ],
        )
        cursor.execute(
            """
            INSERT INTO ecard_card (number, holder_id, region, generation, issued_on, received_at,
                valid_until, state, pin_hash, pin_is_initial, pin_failures, pin_locked, financial_active,
                cancellation_reason, replacement_kind, lost_from_state, deadline_provisional,
                ready_on_provisional, created_at, updated_at)
            SELECT 'B' || lpad(i::text, 9, '0'), i, '11', 3,
                current_date + (i::bigint * 7919 %% 3650)::int - 3650, now(),
                current_date + (i::bigint * 7919 %% 3650)::int,
                'active', '', true, 0, false, false, '', '', '', false, false, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [total],
        )
        cursor.execute("ANALYZE ecard_card")


def timed(label, fn) -> float:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label:<46} {elapsed:7.2f} s  ({result})")
    return elapsed


def main():
    if not (reachable(5432)):
        print("bench/notices needs PostgreSQL on 127.0.0.1:5432")
        print("notices: cards_per_s=0 index=no")
        return
    with tempfile.TemporaryDirectory() as scratch:
        setup(Path(scratch))
        from django.db import connection
        from django.utils import timezone

        from ecard import jobs
        from ecard.models import Notice

        today = timezone.localdate()
        print(f"bench/notices on PostgreSQL, chunks of {jobs.settings.NOTICE_CHUNK_SIZE} cards, one process")
        rate = 0.0
        uses_index = False
        for total in SIZES:
            fill(total)
            chunks = jobs.expiry_chunks()

            def scan_only(chunks=chunks):
                return sum(
                    len(list(jobs.expiring_cards(lo, hi, today).values_list("pk", "holder_id")))
                    for lo, hi in chunks
                )

            def run_job(chunks=chunks):
                return sum(jobs.expiry_notices_chunk(low=lo, high=hi, today=today) for lo, hi in chunks)

            print(f" N = {total}")
            baseline = timed("plain scan of the chunks (baseline)", scan_only)
            elapsed = timed("expiry job: scan + write notices", run_job)
            again = timed("expiry job again (nothing new to write)", run_job)
            notices = Notice.objects.count()
            rate = total / elapsed
            print(
                f"  {notices} notices; job {rate:,.0f} cards/s, second run {total / again:,.0f} cards/s; "
                f"job/plain-scan time ratio {elapsed / baseline:.2f}"
            )
        low, high = chunks[len(chunks) // 2]
        sql, params = jobs.expiring_cards(low, high, today).values_list("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        print(" EXPLAIN of one chunk's expiry query:")
        print("\n".join("   " + line for line in plan.splitlines()))
        uses_index = "Index" in plan and "Seq Scan" not in plan
        print(f"notices: cards_per_s={rate:.0f} index={'yes' if uses_index else 'no'}")


if __name__ == "__main__":
    main()
