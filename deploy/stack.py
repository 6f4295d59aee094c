"""The real multi-process stack on this machine: migrate, gunicorn, a Celery worker, beat.

    python deploy/stack.py run     # start everything, stop it all on Ctrl-C   (make stack)
    python deploy/stack.py start   # start in the background, wait until ready
    python deploy/stack.py stop    # stop every process `start` started

Against PostgreSQL and Redis on 127.0.0.1 (database ecard_stack, Redis db 13).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "stack"
PIDS = STATE / "pids.json"
PORT = int(os.environ.get("STACK_PORT", "8800"))
BIN = ROOT / ".venv" / "bin"


def environment() -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "stack-local-only-secret-key-not-for-production"),
        "DATABASE_URL": os.environ.get(
            "STACK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecard_stack"
        ),
        "REDIS_URL": os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "QR_SIGNING_KEYS_DIR": str(STATE / "qr-keys"),
        "AUTH_JWT_KEYS_DIR": str(STATE / "auth-keys"),
        "PII_KEYS_DIR": str(STATE / "pii-keys"),
        "PROMETHEUS_MULTIPROC_DIR": str(STATE / "metrics"),
        "GUNICORN_BIND": f"127.0.0.1:{PORT}",
        "GUNICORN_WORKERS": "2",
        "LOG_FORMAT": "json",
        # SMS one-time codes printed to web.log, where smoke.py reads them as a phone would.
        "NOTICE_CHANNELS": "ecard.notices.LoggingChannel,ecard.notices.ConsoleChannel",
    }


def create_database(env: dict) -> None:
    import psycopg

    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    server = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    # A scratch stack: a fresh database each time, so no key or row from an earlier run (of
    # this or another checkout) is left behind.
    with psycopg.connect(server.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def start() -> None:
    if PIDS.exists():
        stop()
    import shutil

    for folder in ("qr-keys", "auth-keys", "pii-keys", "metrics"):
        shutil.rmtree(STATE / folder, ignore_errors=True)
    STATE.mkdir(parents=True, exist_ok=True)
    env = environment()
    create_database(env)
    subprocess.run([BIN / "python", "manage.py", "migrate", "--no-input"], cwd=ROOT, env=env, check=True)
    # The signing keys were just made anew, so no code signed before this start verifies: the
    # single-use store holds back nothing (docs/operations.md, the single-use store).
    subprocess.run([BIN / "python", "manage.py", "store_epoch"], cwd=ROOT, env=env, check=True)
    processes = {
        "web": [BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi:application"],
        "worker": [BIN / "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [
            BIN / "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
    }
    pids = {}
    for name, command in processes.items():
        log = open(STATE / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pids[name] = process.pid
    PIDS.write_text(json.dumps(pids))
    for _ in range(150):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz", timeout=1) as response:
                if response.status == 200:
                    print(f"stack ready on http://127.0.0.1:{PORT} (pids {pids}; logs in {STATE})")
                    return
        except OSError:
            time.sleep(0.2)
    stop()
    raise SystemExit(f"the stack did not become ready; see {STATE}/web.log")


def stop() -> None:
    if not PIDS.exists():
        return
    pids = json.loads(PIDS.read_text())
    for pid in pids.values():
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 30
    for pid in pids.values():
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    PIDS.unlink()
    print(f"stack stopped ({', '.join(pids)})")


def run() -> None:
    start()
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


if __name__ == "__main__":
    {"start": start, "stop": stop, "run": run}[sys.argv[1] if len(sys.argv) > 1 else "run"]()
