"""Codes under concurrency and failure: two scans at once, a loss racing the issue, Redis gone."""

import threading
import time

import pytest
from django.db import connection

from codes import services as token_services
from codes.models import ScanRecord
from codes.services import snapshots
from ecard import services
from plumbing.errors import DomainError
from tests.support import issue_code, requires_postgres


def run_together(count, call):
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        try:
            barrier.wait()
            results[index] = call(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def fifty_concurrent_scans_of_one_code(app_holder, scanner) -> int:
    """50 threads verify one payment code at once: exactly one accepted, the others told it
    was replayed, and 50 records; the records the flush moved (a plain Redis or a cluster)."""
    text = issue_code(app_holder)

    def scan(index):
        response = scanner.verify(text)
        return response.status_code, response.json()["result"], response.json()["code"]

    results = run_together(50, scan)
    assert all(status == 200 for status, _, _ in results)
    assert [r[1] for r in results].count("accepted") == 1
    assert {r[2] for r in results if r[1] == "rejected"} == {"code.replayed"}
    moved = token_services.scan_records_flush()
    assert ScanRecord.objects.filter(nonce__isnull=False).count() == 50
    assert ScanRecord.objects.filter(result="accepted").count() == 1
    return moved


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_scans_of_one_payment_code_accept_exactly_one(app_holder, scanner, settings):
    assert settings.QR_STORE_URL, "this test is about the shared single-use store"
    fifty_concurrent_scans_of_one_code(app_holder, scanner)


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_a_loss_reported_while_a_code_is_issued_never_lets_the_code_through(
    app_holder, scanner, system, round_
):
    def act(index):
        if index == 0:
            response = app_holder.api.post(
                "/api/v1/codes", {"purpose": "payment"}, format="json", **app_holder.auth
            )
            return response.json().get("code") if response.status_code == 201 else None
        services.card_report_temporary_loss(card=app_holder.card, by=system)
        return None

    text, _ = run_together(2, act)
    if text is not None:  # issued before the loss: the loss still stops it, online and offline
        assert scanner.verdict(text)["code"] == "card.temporarily_lost"
        from tests.codes.test_verifier import offline_gate

        gate, _ = offline_gate(scanner)
        assert gate.verify(text).code == "card.temporarily_lost"


@pytest.mark.django_db
def test_with_redis_stopped_single_use_codes_fail_closed_and_identity_keeps_working(
    app_holder, scanner, private_redis
):
    assert scanner.verdict(issue_code(app_holder))["result"] == "accepted"
    payment, culture, identity = (issue_code(app_holder, p) for p in ("payment", "culture", "identity"))
    private_redis.kill()
    private_redis.wait()
    for text in (payment, culture):
        body = scanner.verdict(text)
        assert (body["result"], body["code"]) == ("rejected", "store.unavailable")
    assert scanner.verdict(identity)["result"] == "accepted"
    # Each verification still left its record, straight in the database.
    assert ScanRecord.objects.filter(reason="store.unavailable").count() == 2


REDIS_MISHAPS = {
    # a restart: the server no longer knows the claim script
    "lost_its_scripts": lambda redis: redis.script_flush(),
    # an idle timeout or a failover: the connection each thread keeps is gone
    "dropped_the_connections": lambda redis: redis.client_kill_filter(_type="normal", skipme=True),
}


@pytest.mark.django_db
@pytest.mark.parametrize("mishap", REDIS_MISHAPS)
def test_after_redis_lost_its_scripts_or_dropped_the_connection_a_code_still_passes_once(
    app_holder, scanner, private_redis, settings, mishap
):
    import redis

    assert scanner.verdict(issue_code(app_holder))["result"] == "accepted"  # script and connection made
    assert REDIS_MISHAPS[mishap](redis.Redis.from_url(settings.QR_STORE_URL))
    text = issue_code(app_holder)
    assert scanner.verdict(text)["result"] == "accepted"
    assert scanner.verdict(text)["code"] == "code.replayed"


@pytest.mark.django_db
def test_with_redis_stopped_codes_are_still_issued_and_the_card_state_read_from_the_database(
    app_holder, scanner, private_redis, system
):
    text = issue_code(app_holder, "identity")
    private_redis.kill()
    private_redis.wait()
    services.card_report_temporary_loss(card=app_holder.card, by=system)
    assert scanner.verdict(text)["code"] == "card.temporarily_lost"
    with pytest.raises(DomainError):
        app_holder.card.refresh_from_db()
        token_services.code_issue(ecard=app_holder.card.ecard, purpose="payment", by=system)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_made_by_another_process_evicts_this_processs_copy_of_the_card(
    app_holder, scanner, settings, system
):
    evicted_by_another_process(app_holder, scanner, system, settings.QR_STORE_URL)


def evicted_by_another_process(app_holder, scanner, system, store_url: str) -> None:
    """A loss reported in another web process reaches this one's copy of the card through
    the store's invalidation messages (a plain Redis or a cluster)."""
    from codes import store as store_module

    text = issue_code(app_holder, "identity")
    for _ in range(2):  # the second read comes from Redis, and this process keeps a copy
        assert scanner.verdict(text)["result"] == "accepted"
    reference = app_holder.card.ecard.reference
    stale = snapshots._local_snapshots[reference][1]
    services.card_report_temporary_loss(card=app_holder.card, by=system)
    # Pretend the loss was reported in another web process: this one still has the old
    # copy until that process's word arrives through Redis.
    snapshots._local_snapshots[reference] = (time.monotonic(), stale)
    other_process = store_module.RedisStore(store_url)
    other_process.snapshot_replace(reference, snapshots._snapshot_from_db(reference), 60)
    for _ in range(200):
        if reference not in snapshots._local_snapshots:
            break
        time.sleep(0.01)
    assert reference not in snapshots._local_snapshots  # the word came through
    assert scanner.verdict(text)["code"] == "card.temporarily_lost"


@pytest.mark.django_db
def test_a_reader_never_overwrites_a_fresher_shared_copy(
    app_holder, system, django_capture_on_commit_callbacks
):
    from codes.store import get_store

    reference = app_holder.card.ecard.reference
    old = snapshots._snapshot_from_db(reference)
    with django_capture_on_commit_callbacks(execute=True):
        services.card_report_temporary_loss(card=app_holder.card, by=system)  # writes the fresh copy
    get_store().snapshot_fill(reference, old, 60)  # a slow reader arriving with what it read before
    assert get_store().snapshot_get(reference)["state"] == "temporarily_lost"
