"""bench/soak: a steady run of mixed traffic at a fixed rate under gunicorn on PostgreSQL and
Redis, to see whether the service holds its latency and memory over time.

Traffic (open loop: requests leave on schedule whether or not earlier ones came back):
80 % POST /api/v1/scanner/verify (identity codes, refreshed every 30 s as a phone would),
15 % POST /api/v1/codes (holders asking for codes), 5 % GET /api/v1/ecard (holder reads),
spread over ``SOAK_HOLDERS`` holders, at ``SOAK_RATE`` requests a second for
``SOAK_SECONDS`` (300). Compared: the p99 of the first minute after a 30 s warm-up against
the last minute's, and the web workers' resident memory at those two moments. An error is a
request that got no answer or a 5xx (a refused code is a 200: no error).

The last line reads ``soak: p99_end/p99_start=R rss_growth_pct=G errors=E`` (targets
R ≤ 1.3, G ≤ 10, E = 0).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import reachable  # noqa: E402

RATE = float(os.environ.get("SOAK_RATE", "300"))
SECONDS = int(os.environ.get("SOAK_SECONDS", "300"))
HOLDERS = int(os.environ.get("SOAK_HOLDERS", "50"))
CONNECTIONS = int(os.environ.get("SOAK_CONNECTIONS", "16"))
WARMUP = 30
WINDOW = 60


def fixtures():
    from verify import active_ecard

    from accounts import sessions
    from accounts.models import User
    from codes import verifier
    from codes.services import scanner_register
    from ecard.audit import Actor

    by = Actor.system("soak")
    holders = []
    for i in range(HOLDERS):
        ecard = active_ecard(i, by)
        user = User.objects.create(
            username=User.app_username(), phone=f"139{i:08d}", holder=ecard.card.holder
        )
        holders.append((ecard, sessions.session_start(user=user).access))
    key = verifier.ALGORITHMS["Ed25519"].generate()
    device = scanner_register(
        organisation="soak",
        kind="culture",
        purposes=["identity", "culture"],
        public_key=verifier.b64url(verifier.ALGORITHMS["Ed25519"].public_raw(key.public_key())),
        by=by,
    )
    return holders, device.device_id, key, by


class Traffic:
    """The requests to send, kept fresh: identity codes and the scanner's JWT renewed."""

    def __init__(self, holders, device_id, key, by):
        self.holders, self.device_id, self.key, self.by = holders, device_id, key, by
        self.lock = threading.Lock()
        self.refresh()

    def refresh(self):
        from codes.services import code_issue
        from codes.verifier import device_assertion

        codes = [code_issue(ecard=ecard, purpose="identity", by=self.by).text for ecard, _ in self.holders]
        token = device_assertion(self.device_id, self.key, lifetime=300)
        with self.lock:
            self.codes, self.scanner_token = codes, token

    def request(self, n: int):
        with self.lock:
            codes, token = self.codes, self.scanner_token
        slot = n % 20
        ecard_index = n % len(self.holders)
        if slot < 16:  # 80 %
            body = json.dumps({"code": codes[ecard_index]}).encode()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            return "verify", "POST", "/api/v1/scanner/verify", body, headers
        access = self.holders[ecard_index][1]
        if slot < 19:  # 15 %
            body = json.dumps({"purpose": "identity"}).encode()
            headers = {"Authorization": f"Bearer {access}", "Content-Type": "application/json"}
            return "issue", "POST", "/api/v1/codes", body, headers
        return "read", "GET", "/api/v1/ecard", None, {"Authorization": f"Bearer {access}"}  # 5 %


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children: its workers."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return pids


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def run(port: int, traffic: Traffic, master: int) -> tuple[list[tuple[float, float]], int, dict]:
    """Send at RATE for SECONDS; (send time, latency) per answered request, errors, RSS."""
    results: list[tuple[float, float]] = []
    errors = [0]
    lock = threading.Lock()
    start = time.monotonic() + 1.0
    total = int(RATE * SECONDS)
    rss = {}

    def sender(index: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = index
        while n < total:
            due = start + n / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            _, method, path, body, headers = traffic.request(n)
            sent = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                bad = response.status >= 500
            except (OSError, http.client.HTTPException):
                bad = True
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                if bad:
                    errors[0] += 1
                else:
                    results.append((sent - start, time.monotonic() - sent))
            n += CONNECTIONS
        conn.close()

    def refresher():
        while time.monotonic() < start + SECONDS:
            time.sleep(30)
            traffic.refresh()

    def flusher():
        # What beat does every 2 s: scan records from the Redis buffer into their partition.
        from codes.services import scan_records_flush

        while time.monotonic() < start + SECONDS:
            time.sleep(2)
            scan_records_flush()

    def sampler():
        for moment in (WARMUP + WINDOW, SECONDS):
            time.sleep(max(0.0, start + moment - time.monotonic()))
            rss[moment] = rss_kib(worker_pids(master))

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(CONNECTIONS)]
    helpers = [threading.Thread(target=f, daemon=True) for f in (refresher, sampler, flusher)]
    for thread in threads + helpers:
        thread.start()
    for thread in threads:
        thread.join()
    helpers[1].join(timeout=5)
    return results, errors[0], rss


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main():
    if not (reachable(5432) and reachable(6379)):
        print("bench/soak needs PostgreSQL and Redis on 127.0.0.1")
        print("soak: p99_end/p99_start=0 rss_growth_pct=0 errors=-1")
        return
    import verify as bench_verify

    with tempfile.TemporaryDirectory() as scratch:
        env = bench_verify.environment(Path(scratch))
        env["DATABASE_POOL_SIZE"] = "4"
        bench_verify.setup_django(env)
        holders, device_id, key, by = fixtures()
        traffic = Traffic(holders, device_id, key, by)
        port = 19000 + os.getpid() % 1000
        server = bench_verify.start_server(env, port)
        try:
            print(
                f"bench/soak: {RATE:.0f} req/s for {SECONDS} s (80 % verify, 15 % codes, 5 % reads), "
                f"{HOLDERS} holders, gunicorn {bench_verify.WORKERS} workers"
            )
            results, errors, rss = run(port, traffic, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
    first = [lat for at, lat in results if WARMUP <= at < WARMUP + WINDOW]
    last = [lat for at, lat in results if SECONDS - WINDOW <= at < SECONDS]
    start_p99, end_p99 = p99(first), p99(last)
    growth = 100.0 * (rss[SECONDS] - rss[WARMUP + WINDOW]) / rss[WARMUP + WINDOW]
    sent = len(results) + errors
    p50 = statistics.median(lat for _, lat in results)
    print(
        f"  answered {len(results)} of {sent}; p50 {p50 * 1000:.2f} ms; "
        f"p99 first minute {start_p99 * 1000:.2f} ms, last minute {end_p99 * 1000:.2f} ms"
    )
    before, after = rss[WARMUP + WINDOW] / 1024, rss[SECONDS] / 1024
    print(f"  workers' RSS {before:.1f} MiB after warm-up, {after:.1f} MiB at the end")
    print(f"soak: p99_end/p99_start={end_p99 / start_p99:.2f} rss_growth_pct={growth:.1f} errors={errors}")


if __name__ == "__main__":
    main()
