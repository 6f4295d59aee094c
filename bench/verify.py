"""bench/verify: how fast codes verify, as ratios against baselines measured in the same run.

1. offline: the embeddable verifier against a raw Ed25519 verification of the same bytes;
2. online: POST /api/v1/scanner/verify under gunicorn on 127.0.0.1 against the bare
   GET /healthz of the same server, a bounded number of requests each, taking turns for
   ``BENCH_ROUNDS`` rounds (7) and reporting the median of the rounds' ratios; p50/p99 too;
3. the QR text size and version (level M) of every purpose.

Uses PostgreSQL and Redis on 127.0.0.1 when they answer (a database of its own,
``ecard_bench``, and Redis db 14), SQLite and the in-process store otherwise. The last
line reads ``verify: offline/raw=R1 online/bare=R2 rounds=N qr_version=V``.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import interleaved_rates, qr_version, reachable

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
# Bare and verify runs take turns this many times (after one warm-up turn); the ratio printed
# is the median of the rounds' ratios, so one noisy moment does not decide it.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))


def environment(scratch: Path) -> dict:
    env = {
        "SECRET_KEY": "bench-only",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "QR_SIGNING_KEYS_DIR": str(scratch / "qr-keys"),
        "AUTH_JWT_KEYS_DIR": str(scratch / "auth-keys"),
        "PII_KEYS_DIR": str(scratch / "pii-keys"),
        "LOG_LEVEL": "WARNING",
    }
    if reachable(5432) and reachable(6379):
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS ecard_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE ecard_bench")
        env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/ecard_bench"
        env["REDIS_URL"] = "redis://127.0.0.1:6379/14"
    else:
        env["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    return env


def setup_django(env: dict):
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cache.clear()


def active_ecard(index: int, by):
    """A holder (ID number by ``index``) with an active card and its e-card."""
    import datetime

    from django.utils import timezone
    from stdnum.cn import ric

    from accounts.services import holder_get_or_create
    from ecard import services

    body = f"1101051985031{index:04d}"
    holder, _ = holder_get_or_create(
        name="张三", id_type="resident_id", id_number=body + ric.calc_check_digit(body + "0"), by=by
    )
    card = services.card_create(
        holder=holder,
        region="11",
        issued_on=datetime.date.today(),
        received_at=timezone.now(),
        state="active",
        by=by,
    )
    # A card in use: its initial PIN (which cannot pay) changed.
    card = services.card_change_pin(card=card, old_pin="123456", new_pin="740285", by=by)
    return services.ecard_issue(card=card, channel="wechat", password="802461", by=by)


def make_fixtures():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from codes.services import scanner_register
    from codes.verifier import ALGORITHMS, b64url, device_assertion
    from ecard.audit import Actor
    from ecard.models import ECard

    by = Actor.system("bench")
    ecard = active_ecard(1, by)
    ECard.objects.filter(pk=ecard.pk).update(transit_payment_method="wechat_pay")
    key = Ed25519PrivateKey.generate()
    device = scanner_register(
        organisation="bench",
        kind="transit_gate",
        purposes=["payment", "transit", "culture", "identity"],
        public_key=b64url(ALGORITHMS["Ed25519"].public_raw(key.public_key())),
        by=by,
    )
    token = device_assertion(device.device_id, key)
    return ECard.objects.get(pk=ecard.pk), token, by


def issue(ecard, by, purpose: str, count: int) -> list[str]:
    from codes.services import code_issue

    return [code_issue(ecard=ecard, purpose=purpose, by=by).text for _ in range(count)]


# --------------------------------------------------------------------------- offline


def bench_offline(text: str) -> tuple[float, float]:
    from codes import keys, verifier

    gate = verifier.Verifier(keys.keyset(), None)
    code = verifier.parse(text)
    public = keys.keyset().get(code.kid).key
    n = 2000

    def raw():
        for _ in range(n):
            public.verify(code.signature, code.body)

    def checked():
        for _ in range(n):
            gate.check(text)

    rates = interleaved_rates({"raw": raw, "gate": checked}, n, rounds=7)
    return rates["raw"], rates["gate"]


# --------------------------------------------------------------------------- online


def start_server(env: dict, port: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--keep-alive",
        "10",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def load(
    port: int, requests: list[tuple[str, str, bytes | None, dict]]
) -> tuple[float, list[float], list[int]]:
    """Send the requests over CONCURRENCY keep-alive connections; throughput, latencies, statuses."""
    latencies: list[float] = []
    bodies: list[int] = []
    lock = threading.Lock()
    chunks = [requests[i::CONCURRENCY] for i in range(CONCURRENCY)]

    def client(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, results = [], []
        for method, path, body, headers in chunk:
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            results.append(payload)
        conn.close()
        with lock:
            latencies.extend(mine)
            bodies.extend(results)

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return len(requests) / elapsed, latencies, bodies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quiet() -> None:
    """Before each timed turn: the scan records the last verify turn left in Redis are
    written now, not by the workers' drain during whichever turn comes next (a bare one as
    often as a verify one), and the database's writes (codes just issued) settle. Writing
    the records is measured where it belongs, in the soak's steady state."""
    from codes.services import scan_records_flush

    scan_records_flush()
    time.sleep(0.5)


def bench_online(env, ecard, token, by) -> tuple[dict, dict, int, float]:
    port = 18000 + os.getpid() % 1000
    server = start_server(env, port)
    try:
        bare = [("GET", "/healthz", None, {})] * REQUESTS
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        results = {"bare": [], "verify": []}
        accepted = 0
        for round_ in range(ROUNDS + 1):  # round 0 warms both up and is not counted
            quiet()
            rate, lat, _ = load(port, bare)
            if round_:
                results["bare"].append((rate, lat))
            codes = issue(ecard, by, "payment", REQUESTS)
            verify = [
                ("POST", "/api/v1/scanner/verify", json.dumps({"code": c}).encode(), headers) for c in codes
            ]
            quiet()
            rate, lat, bodies = load(port, verify)
            if round_:
                results["verify"].append((rate, lat))
                accepted += sum(json.loads(b)["result"] == "accepted" for b in bodies)
        summary = {}
        for name, runs in results.items():
            rate = statistics.median(r for r, _ in runs)
            latencies = [x for _, lat in runs for x in lat]
            summary[name] = {
                "rate": rate,
                "p50": percentile(latencies, 0.5),
                "p99": percentile(latencies, 0.99),
            }
        ratios = [v[0] / b[0] for b, v in zip(results["bare"], results["verify"], strict=True)]
        print("  online   each round's verify/bare " + " ".join(f"{r:.2f}" for r in ratios))
        return summary["bare"], summary["verify"], accepted, statistics.median(ratios)
    finally:
        server.terminate()
        server.wait(timeout=10)


def qr_sizes(ecard, by) -> dict[str, tuple[int, int]]:
    sizes = {}
    for purpose in ("payment", "transit", "culture", "identity"):
        text = issue(ecard, by, purpose, 1)[0]
        sizes[purpose] = (len(text), qr_version(text))
    return sizes


def main():
    with tempfile.TemporaryDirectory() as scratch:
        env = environment(Path(scratch))
        setup_django(env)
        ecard, token, by = make_fixtures()
        backend = "PostgreSQL + Redis" if "REDIS_URL" in env else "SQLite + in-process store"
        print(f"bench/verify on {backend}, {os.cpu_count()} cores, gunicorn {WORKERS} workers")

        raw_rate, gate_rate = bench_offline(issue(ecard, by, "payment", 1)[0])
        offline_ratio = gate_rate / raw_rate
        print(f"  offline  raw Ed25519 verify {raw_rate:9.0f}/s   verifier.check {gate_rate:9.0f}/s")

        bare, verify, accepted, online_ratio = bench_online(env, ecard, token, by)
        for name, row in (("bare /healthz", bare), ("scanner/verify", verify)):
            print(
                f"  online   {name:<15} {row['rate']:7.0f} req/s   "
                f"p50 {row['p50'] * 1000:6.2f} ms   p99 {row['p99'] * 1000:6.2f} ms"
            )
        print(f"  online   accepted {accepted} of {ROUNDS * REQUESTS} distinct payment codes")

        from codes.models import ScanRecord
        from codes.services import scan_records_flush

        scan_records_flush()
        recorded = ScanRecord.objects.count()
        print(f"  records  {recorded} scan records written for {(ROUNDS + 1) * REQUESTS} verifications")

        sizes = qr_sizes(ecard, by)
        for purpose, (length, version) in sizes.items():
            print(f"  qr       {purpose:<9} {length} characters, version {version} at level M")
        largest = max(version for _, version in sizes.values())
        print(
            f"verify: offline/raw={offline_ratio:.2f} online/bare={online_ratio:.2f} "
            f"rounds={ROUNDS} qr_version={largest}"
        )


if __name__ == "__main__":
    main()
