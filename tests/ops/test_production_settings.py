"""Production settings refuse to start without their secrets and pass `check --deploy`."""

import json
import os
import subprocess
import sys

from tests.support import ROOT


def manage(*args, env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def full_env(tmp_path):
    (tmp_path / "qr").mkdir()
    (tmp_path / "auth").mkdir()
    (tmp_path / "pii").mkdir()
    return {
        "SECRET_KEY": "x7$k2!q9@m4#z8&w1^r5*t3(y6)u0-p_a+s=d;f:g,h.j<l>QWERTYU",
        "DATABASE_URL": "postgres://ecard@db.internal:5432/ecard",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "ALLOWED_HOSTS": "ecard.example.gov.cn",
        "QR_SIGNING_KEYS_DIR": str(tmp_path / "qr"),
        "AUTH_JWT_KEYS_DIR": str(tmp_path / "auth"),
        "PII_KEYS_DIR": str(tmp_path / "pii"),
        "IDENTITY_VERIFIER": "provider_adapters.realperson.FaceVerifier",
        "NUM_PROXIES": "1",
    }


def test_check_deploy_reports_no_warnings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=full_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_each_required_setting_is_refused_when_missing(tmp_path):
    env = full_env(tmp_path)
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "NUM_PROXIES"):
        result = manage("check", env={k: v for k, v in env.items() if k != name})
        assert result.returncode != 0 and name in result.stderr, name


def test_behind_the_balancer_with_no_proxy_trusted_it_refuses_to_start(tmp_path):
    # Every client would be the balancer's address: one city, one count of sign-in failures.
    result = manage("check", env={**full_env(tmp_path), "NUM_PROXIES": "0"})
    assert result.returncode != 0 and "NUM_PROXIES" in result.stderr


def test_without_a_personal_data_key_source_it_refuses_to_start(tmp_path):
    env = full_env(tmp_path)
    env["PII_KEYS_DIR"] = str(tmp_path / "missing")
    result = manage("check", env=env)
    assert result.returncode != 0 and "personal-data keys" in result.stderr
    env["PII_DATA_KEYS"] = "k20261125000000ab:aes-256-gcm:" + "A" * 43
    env["PII_INDEX_KEY"] = "hmac-sha256:" + "A" * 43
    assert manage("check", env=env).returncode == 0


def test_without_a_signing_key_source_it_refuses_to_start(tmp_path):
    env = full_env(tmp_path)
    env["QR_SIGNING_KEYS_DIR"] = str(tmp_path / "missing")
    result = manage("check", env=env)
    assert result.returncode != 0 and "QR signing key" in result.stderr


def test_the_development_real_person_check_is_refused(tmp_path):
    env = full_env(tmp_path)
    env["IDENTITY_VERIFIER"] = "accounts.realperson.DevelopmentVerifier"
    result = manage("check", env=env)
    assert result.returncode != 0 and "IDENTITY_VERIFIER" in result.stderr


def test_channels_that_print_one_time_codes_are_refused(tmp_path):
    base = full_env(tmp_path)
    for channel in ("ecard.notices.ConsoleChannel", "ecard.notices.OutboxChannel"):
        env = {**base, "NOTICE_CHANNELS": f"ecard.notices.LoggingChannel,{channel}"}
        result = manage("check", env=env)
        assert result.returncode != 0 and "NOTICE_CHANNELS" in result.stderr, channel


def test_photos_go_to_an_s3_compatible_bucket_when_one_is_named(tmp_path):
    env = {
        **full_env(tmp_path),
        "STORAGE_BUCKET": "ecard-photos",
        "STORAGE_ENDPOINT_URL": "https://oss.internal",
    }
    code = (
        "from django.core.files.storage import storages; s = storages['default']; "
        "print('storage:', type(s).__name__, s.bucket_name)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert "storage: S3Storage ecard-photos" in result.stdout


def test_the_scanners_front_door_has_been_reviewed_for_every_middleware_of_production(tmp_path):
    code = "import json; from django.conf import settings; print(json.dumps(settings.MIDDLEWARE))"
    result = manage("shell", "--no-imports", "-c", code, env=full_env(tmp_path))
    assert result.returncode == 0, result.stderr
    from plumbing.fastpath import STANDS_IN_FOR

    assert json.loads(result.stdout.strip().splitlines()[-1]) == list(STANDS_IN_FOR)


def test_production_pools_its_postgresql_connections_and_the_pool_answers(tmp_path):
    import socket

    import pytest

    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
    except OSError:
        pytest.skip("needs PostgreSQL on 127.0.0.1")
    env = full_env(tmp_path)
    env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    env["DATABASE_POOL_SIZE"] = "3"
    script = (
        "from django.db import connection; connection.ensure_connection(); "
        "print(connection.pool.max_size, connection.cursor().execute('select 1').fetchone()[0])"
    )
    result = manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["3", "1"]


def test_a_redis_cluster_cannot_be_the_celery_broker(tmp_path):
    env = full_env(tmp_path)
    env["REDIS_URL"] = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
    result = manage("check", env=env)
    assert result.returncode != 0 and "cannot be a Redis Cluster" in result.stderr
    env["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    assert manage("check", env=env).returncode == 0
