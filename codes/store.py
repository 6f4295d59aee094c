"""What the verify hot path keeps outside the database.

- single-use claims: a payment code's nonce is claimed once (``SET NX``);
- card-state snapshots: what the service matrix needs about an e-card, dropped by the
  lifecycle services when the card changes;
- the scan-record buffer: records are appended in the same round trip as the claim and
  moved to the database in batches (``drain``), so no request waits for an INSERT.

Redis when ``QR_STORE_URL`` is set (``redis+cluster://…`` for a Redis Cluster); in-process
otherwise (one process, development).

On a cluster a claim and the record appended with it must live in one slot: the buffer is
``SHARDS`` lists, and a claim goes under the hash tag of the list its record joins
(``{s7}:ecard:used:…`` with ``{s7}:ecard:scans``). The tag leads the key, so nothing in a
claim's own text (an operator's name) can move it to another slot.
"""

from __future__ import annotations

import json
import threading
import time
import zlib

from django.conf import settings

from plumbing import rediscluster

SHARDS = 16
LEGACY_SCANS = "ecard:scans"  # the one list before the buffer was sharded: still drained
CHANGED = "ecard:snapshots:changed"


def _tag(shard: int) -> str:
    return f"{{s{shard}}}"


def shard_of(text: str) -> int:
    return zlib.crc32(text.encode()) % SHARDS


def scans_key(shard: int) -> str:
    return f"{_tag(shard)}:ecard:scans"


def claim_key_in(shard: int, claim: str) -> str:
    return f"{_tag(shard)}:{claim}"


class StoreUnavailable(Exception):
    """The store did not answer: single-use purposes must fail closed."""


# The store's epoch, one per shard (a claim's own slot on a cluster): which server it is
# (``run``, its run_id) and since when it has held every claim (``start``, the server's own
# clock). A server that lost claims — restarted without persistence (the epoch is gone),
# restarted after a crash with ``appendfsync everysec`` (its run_id changed), or a replica
# promoted before it had every write (another run_id) — starts a new epoch, and a single-use
# code issued before the epoch began (within the clock skew) is refused, ``store.recovering``,
# rather than claimed again: its first use may be among what was lost. Such codes expire
# within their lifetime (one or two minutes); the holder's app has shown a new one by then.
EPOCH = "ecard:epoch"
RECOVERING = 2

_CLAIM_AND_RECORD = """
local claimed = 1
if KEYS[1] ~= '' then
  local epoch = redis.call('HMGET', KEYS[3], 'run', 'start')
  local start = tonumber(epoch[2])
  if epoch[1] ~= ARGV[4] or start == nil then
    start = tonumber(redis.call('TIME')[1])
    redis.call('HSET', KEYS[3], 'run', ARGV[4], 'start', start)
  end
  if tonumber(ARGV[5]) <= start + tonumber(ARGV[6]) then
    return 2
  end
  claimed = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
  claimed = claimed and 1 or 0
end
if claimed == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
else
  redis.call('RPUSH', KEYS[2], ARGV[3])
end
return claimed
"""


class RedisStore:
    def __init__(self, url: str):
        import redis

        self._errors = (redis.RedisError, OSError)
        timeout = settings.QR_STORE_TIMEOUT_SECONDS
        # A plain Redis: each thread keeps one connection of its own for the claim, the call
        # every scan makes; the pool, its retry wrapper and its instrumentation cost a scan
        # more than the round trip's own CPU. A cluster routes by slot, through its client.
        if rediscluster.is_cluster(url):
            self.client = rediscluster.cluster_client(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._own: threading.local | None = None
        else:
            self.client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
            )
            self._own = threading.local()
        self._claim = self.client.register_script(_CLAIM_AND_RECORD)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def snapshot_get(self, ref: str) -> dict | None:
        raw = self._call(self.client.get, f"ecard:snap:{ref}")
        return json.loads(raw) if raw else None

    def snapshot_fill(self, ref: str, data: dict, ttl: int) -> None:
        """A reader's copy, only where none is: it may have read the database before a change."""
        self._call(self.client.set, f"ecard:snap:{ref}", json.dumps(data), ex=ttl, nx=True)

    def snapshot_replace(self, ref: str, data: dict | None, ttl: int) -> None:
        """The writer's fresh copy after its commit, and word to every process to drop theirs."""
        # Two calls, not a pipeline: a cluster takes no PUBLISH in one (it is a card change,
        # not a scan: rare).
        if data is None:
            self._call(self.client.delete, f"ecard:snap:{ref}")
        else:
            self._call(self.client.set, f"ecard:snap:{ref}", json.dumps(data), ex=ttl)
        self._call(self.client.publish, CHANGED, ref)

    def listen_for_changes(self, forget, forget_all, alive) -> None:
        """Evict this process's copies when any process changes a card (a daemon thread).

        On a lost subscription everything local is dropped: a missed message must not
        leave a stale state behind. The thread ends once ``alive()`` turns false.
        """

        def run():
            while alive():
                try:
                    pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(CHANGED)
                    forget_all()
                    while alive():
                        message = pubsub.get_message(timeout=1.0)
                        if message and message.get("type") == "message":
                            forget(message["data"].decode())
                    pubsub.close()
                except Exception:  # the connection dropped: start again, clean
                    forget_all()
                    time.sleep(0.5)

        threading.Thread(target=run, name="ecard-snapshot-listener", daemon=True).start()

    def record(
        self,
        accepted: dict,
        *,
        claim: str | None = None,
        ttl: int = 0,
        replayed: dict | None = None,
        issued_at: int = 0,
    ) -> bool | int:
        """Claim ``claim`` once (if given) and buffer the matching record, in one round trip:
        True if claimed, False if used before, ``RECOVERING`` if the code is older than the
        store's epoch (nothing claimed, nothing buffered: the caller records that refusal)."""
        shard = shard_of(claim or accepted["id"])
        if claim is None and replayed is None:
            self._call(self.client.rpush, scans_key(shard), json.dumps(accepted))
            return True
        keys = [claim_key_in(shard, claim) if claim else "", scans_key(shard), self._epoch_key(shard)]
        args = [
            ttl,
            json.dumps(accepted),
            json.dumps(replayed or accepted),
            "",  # the server's run_id: filled in on this thread's connection
            issued_at,
            settings.QR_CLOCK_SKEW_SECONDS,
        ]
        if self._own is None:
            # A cluster: each node's loss shows as its epochs gone (no run_id through the
            # router); persistence on every node is what production runs (operations.md).
            answer = self._call(self._claim, keys=keys, args=args)
        else:
            answer = self._script_on_own_connection(keys, args)
        return RECOVERING if answer == RECOVERING else answer == 1

    def durability(self) -> dict:
        """The persistence the store runs with, from ``CONFIG GET`` (``{}`` where the
        provider disallows CONFIG): what ``/readyz`` holds against QR_STORE_REQUIRE_DURABLE."""
        import redis

        try:
            found = {}
            for name in ("appendonly", "appendfsync"):
                answer = self.client.config_get(name)
                # A cluster may answer per node: every node must say the same.
                values = {
                    str(node.get(name)) if isinstance(node, dict) else str(node)
                    for key, node in answer.items()
                    if isinstance(node, dict) or key == name
                }
                found[name] = values.pop() if len(values) == 1 else "mixed"
            return found
        except redis.ResponseError:
            return {}
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _epoch_key(self, shard: int) -> str:
        # One epoch for a plain Redis, begun at the first claim after a loss; on a cluster a
        # script reaches only its own slot, so each shard's epoch begins at its own first claim.
        return EPOCH if self._own is not None else f"{_tag(shard)}:{EPOCH}"

    def epoch_declare(self, start: int = 0) -> None:
        """Declare the store whole since ``start`` (server seconds; 0: since ever): a new store
        put in service when no code was claimed anywhere else (a first deployment, a planned
        move after the old store drained), so codes issued before it are not held back. Never
        after a loss: that is what the epoch is for (``manage.py store_epoch``)."""
        run = "" if self._own is None else self.client.info("server").get("run_id", "")
        for key in {self._epoch_key(shard) for shard in range(SHARDS)}:
            self._call(self.client.hset, key, mapping={"run": run, "start": start})

    def _run_id(self, connection) -> str:
        connection.send_command("INFO", "server")
        info = connection.read_response()
        info = info.decode() if isinstance(info, bytes) else str(info)
        for line in info.splitlines():
            if line.startswith("run_id:"):
                return line.split(":", 1)[1].strip()
        return ""

    def _script_on_own_connection(self, keys: list, args: list):
        """The claim script on this thread's connection: EVALSHA, loading the script when
        the server lacks it (after a restart), and once more on a fresh connection when the
        kept one was dropped (idle timeout, failover). Any other failure: StoreUnavailable."""
        import redis

        own = self._own
        assert own is not None  # only a plain Redis runs scripts on a connection of its own
        connection = getattr(own, "connection", None)
        if connection is None:
            connection = own.connection = self.client.connection_pool.make_connection()
            own.run_id = None
        retried = False
        while True:
            try:
                if own.run_id is None:
                    # Learnt on every new connection: a restarted or promoted server has
                    # another, and the script starts a new epoch when it differs.
                    own.run_id = self._run_id(connection)
                args[3] = own.run_id
                command = ("EVALSHA", self._claim.sha, len(keys), *keys, *args)
                try:
                    connection.send_command(*command)
                    return connection.read_response()
                except redis.exceptions.NoScriptError:
                    connection.send_command("SCRIPT", "LOAD", _CLAIM_AND_RECORD)
                    connection.read_response()
                    connection.send_command(*command)
                    return connection.read_response()
            except redis.ConnectionError as exc:
                connection.disconnect()
                own.run_id = None
                if retried:
                    raise StoreUnavailable(str(exc)) from exc
                retried = True
            except self._errors as exc:
                connection.disconnect()
                own.run_id = None
                raise StoreUnavailable(str(exc)) from exc

    def claim(self, key: str, ttl: int) -> bool:
        tagged = claim_key_in(shard_of(key), key)
        return bool(self._call(self.client.set, tagged, "1", nx=True, ex=ttl))

    def purge_expired(self) -> int:
        return 0  # Redis expires single-use claims by itself

    def drain(self, write, limit: int = 1000) -> int:
        """Hand buffered records to ``write`` in batches, then remove them.

        Records are removed only after ``write`` returned, under a lock so two drainers
        never trim each other's batch: a crash in between re-delivers, and ``write`` is
        idempotent (records carry their own primary key).
        """
        total = 0
        for key in [LEGACY_SCANS, *(scans_key(shard) for shard in range(SHARDS))]:
            lock = f"{key}:drain"  # the list's own slot
            if not self._call(self.client.set, lock, "1", nx=True, ex=60):
                continue  # another drainer has this list
            try:
                while True:
                    batch = self._call(self.client.lrange, key, 0, limit - 1)
                    if not batch:
                        break
                    write([json.loads(item) for item in batch])
                    self._call(self.client.ltrim, key, len(batch), -1)
                    total += len(batch)
            finally:
                self._call(self.client.delete, lock)
        return total


class MemoryStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.claims: dict[str, float] = {}
        self.snapshots: dict[str, dict] = {}
        self.scans: list[dict] = []

    def snapshot_get(self, ref):
        return self.snapshots.get(ref)

    def snapshot_fill(self, ref, data, ttl):
        self.snapshots.setdefault(ref, data)

    def snapshot_replace(self, ref, data, ttl):
        if data is None:
            self.snapshots.pop(ref, None)
        else:
            self.snapshots[ref] = data

    def listen_for_changes(self, forget, forget_all, alive):
        pass  # one process: nothing to hear from

    def claim(self, key, ttl) -> bool:
        now = time.monotonic()
        with self.lock:
            if self.claims.get(key, 0) > now:
                return False
            self.claims[key] = now + ttl
            return True

    def epoch_declare(self, start: int = 0) -> None:
        pass  # one process: it never outlives its claims

    def purge_expired(self) -> int:
        now = time.monotonic()
        with self.lock:
            expired = [key for key, until in self.claims.items() if until <= now]
            for key in expired:
                del self.claims[key]
        return len(expired)

    def record(self, accepted, *, claim=None, ttl=0, replayed=None, issued_at=0) -> bool:
        claimed = self.claim(claim, ttl) if claim else True
        with self.lock:
            self.scans.append(accepted if claimed else (replayed or accepted))
        return claimed

    def drain(self, write, limit=1000) -> int:
        with self.lock:
            batch, self.scans = self.scans, []
        if batch:
            write(batch)
        return len(batch)


_store = None
_store_lock = threading.Lock()


def get_store():
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = settings.QR_STORE_URL
                _store = RedisStore(url) if url else MemoryStore()
    return _store


def reset_store() -> None:
    """Forget the store so the next call reads the settings again (tests, after a fork)."""
    global _store
    _store = None
