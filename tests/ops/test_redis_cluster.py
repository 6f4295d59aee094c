"""The verify path on a Redis Cluster the test run starts: single use, records, cache, failure."""

import pytest
from django.core.cache import cache
from redis.cluster import key_slot

from codes import store as store_module
from codes import verifier
from codes.models import ScanRecord
from codes.services import scan_records_flush
from tests.codes.test_concurrency import (
    evicted_by_another_process,
    fifty_concurrent_scans_of_one_code,
)
from tests.support import PASSWORD, issue_code, requires_postgres


def claim_slot(text: str) -> int:
    """The slot a payment code's single-use claim lands in."""
    claim = f"ecard:used:{verifier.parse(text).nonce}"
    return key_slot(store_module.claim_key_in(store_module.shard_of(claim), claim).encode())


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_scans_of_one_code_on_a_cluster_accept_exactly_one(
    app_holder, scanner, redis_cluster
):
    assert fifty_concurrent_scans_of_one_code(app_holder, scanner) == 50


@pytest.mark.django_db
def test_claims_and_their_records_share_a_slot_and_spread_over_the_primaries(
    app_holder, scanner, redis_cluster
):
    texts = [issue_code(app_holder, "culture") for _ in range(24)]
    for text in texts:
        assert scanner.verdict(text)["result"] == "accepted"  # a cross-slot script would raise
        assert scanner.verdict(text)["code"] == "code.replayed"
    owners = {redis_cluster.port_of_slot(claim_slot(text)) for text in texts}
    assert len(owners) >= 2  # not one hot slot
    assert scan_records_flush() == 48


@pytest.mark.django_db
def test_a_primary_stopped_mid_run_fails_closed_never_open(app_holder, scanner, redis_cluster):
    texts = [issue_code(app_holder, "payment") for _ in range(12)]
    first, rest = texts[:6], texts[6:]
    for text in first:
        assert scanner.verdict(text)["result"] == "accepted"
    owner = {text: redis_cluster.port_of_slot(claim_slot(text)) for text in texts}
    victim = owner[rest[0]]
    redis_cluster.stop(victim)
    for text in rest + first:
        body = scanner.verdict(text)
        if owner[text] == victim or text in first:
            # Its claim's primary is gone, or it was used already: never accepted.
            assert body["result"] == "rejected", body
        assert body["code"] in (None, "store.unavailable", "code.replayed"), body
    refused = ScanRecord.objects.filter(reason="store.unavailable").count()
    assert refused >= 1  # each refusal still left its record, in the database
    # An identity code needs no claim: the gate still lets its holder through.
    assert scanner.verdict(issue_code(app_holder, "identity"))["result"] == "accepted"


@pytest.mark.django_db
def test_the_cache_throttles_and_many_key_calls_work_on_a_cluster(api, redis_cluster):
    keys = {f"k{i}": i for i in range(20)}  # over many slots
    cache.set_many(keys, 30)
    assert cache.get_many(list(keys)) == keys
    assert cache.add("once", 1, 30) and not cache.add("once", 2, 30)
    assert cache.incr("once") == 2
    cache.delete_many(list(keys))
    assert cache.get_many(list(keys)) == {}
    body = {"phone": "13900007777", "password": PASSWORD}
    statuses = [api.post("/api/v1/auth/token", body, format="json").status_code for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429  # sign-in attempts counted on the cluster


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_card_change_in_another_process_evicts_this_processs_copy_through_the_cluster(
    app_holder, scanner, system, redis_cluster
):
    evicted_by_another_process(app_holder, scanner, system, redis_cluster.url)
