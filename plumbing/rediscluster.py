"""Redis Cluster for the cache and the verify path's store.

A URL ``redis+cluster://host:port[,host:port…]`` names a cluster by some of its nodes; the
client learns the rest. Multi-key operations stay on one slot by hash tags (``{s7}``): the
store puts a single-use claim and the scan-record list it appends to under one tag, and
the cache writes many keys one by one. Celery's broker is not here: it stays on a plain
Redis (kombu's Redis transport has no cluster mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

SCHEME = "redis+cluster://"


def is_cluster(url: str | None) -> bool:
    return bool(url and url.startswith(SCHEME))


def cluster_client(url: str, **options: Any) -> Any:
    """A ``RedisCluster`` for the nodes the URL lists. A node that does not answer fails the
    command after its timeout: the callers fail closed, so no long retrying here."""
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    nodes = []
    for item in url[len(SCHEME) :].split("/", 1)[0].split(","):
        host, _, port = item.strip().rpartition(":")
        nodes.append(ClusterNode(host or "127.0.0.1", int(port)))
    return RedisCluster(startup_nodes=nodes, retry=Retry(NoBackoff(), 1), **options)


class ClusterCacheClient(RedisCacheClient):
    """Django's Redis cache client on a cluster: one client, and no command across slots."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        timeout = options.pop("socket_timeout", 0.5)
        super().__init__(servers, **options)
        self._cluster: Any = None
        self._timeout = timeout

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if self._cluster is None:
            self._cluster = cluster_client(
                self._servers[0],  # type: ignore[attr-defined]  # set by RedisCacheClient
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
            )
        return self._cluster

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        for key in keys:
            value = self.get(key, None)
            if value is not None:
                found[key] = value
        return found

    def set_many(self, data: dict[Any, Any], timeout: Any) -> None:  # type: ignore[override]
        for key, value in data.items():
            self.set(key, value, timeout)

    def delete_many(self, keys: Iterable[Any]) -> None:
        for key in keys:
            self.delete(key)

    def clear(self) -> bool:
        from redis.cluster import RedisCluster

        return bool(self.get_client().flushdb(target_nodes=RedisCluster.PRIMARIES))


class RedisClusterCache(RedisCache):
    """``CACHES`` backend for a ``redis+cluster://`` LOCATION (give it as a one-item list, so
    Django does not split the node list)."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ClusterCacheClient
