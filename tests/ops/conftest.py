"""A Redis Cluster of six servers, started on 127.0.0.1 by the tests that need one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from tests.support import declare_store_whole, wait_for_port


class RedisCluster:
    """Three redis-server primaries on 127.0.0.1 joined into a cluster, for one test module."""

    def __init__(self, directory):
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if binary is None or cli is None:
            pytest.skip("redis-server is not installed")
        self.ports = [self._free_cluster_port() for _ in range(3)]
        self.processes = {}
        for port in self.ports:
            self.processes[port] = subprocess.Popen(
                [
                    binary,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(directory / f"nodes-{port}.conf"),
                    "--cluster-node-timeout", "1000",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(directory),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port in self.ports:
            wait_for_port(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
        )
        for _ in range(100):
            states = [
                subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True
                ).stdout
                for port in self.ports
            ]
            if all("cluster_state:ok" in state for state in states):
                break
            time.sleep(0.1)
        else:
            self.close()
            raise RuntimeError("the test Redis Cluster did not come up")
        self.url = "redis+cluster://" + ",".join(nodes)

    @staticmethod
    def _free_cluster_port() -> int:
        """A port free with its cluster-bus port (+10000), which must stay under 65536."""
        import random

        for _ in range(200):
            port = random.randint(20000, 29999)
            try:
                for candidate in (port, port + 10000):
                    with socket.socket() as sock:
                        sock.bind(("127.0.0.1", candidate))
                return port
            except OSError:
                continue
        raise RuntimeError("no free port pair for a Redis Cluster node")

    def port_of_slot(self, slot: int) -> int:
        import redis

        for entry in redis.Redis(port=self.ports[0]).cluster("slots"):
            low, high, primary = entry[0], entry[1], entry[2]
            if low <= slot <= high:
                return int(primary[1])
        raise LookupError(slot)

    def stop(self, port: int) -> None:
        self.processes[port].kill()
        self.processes[port].wait()

    def close(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()


@pytest.fixture
def redis_cluster(tmp_path, settings):
    """A fresh 3-primary cluster (a test may stop one of its primaries); the store and the
    cache pointed at it for the test."""
    from codes.services import reset_caches

    cluster = RedisCluster(tmp_path)
    store, caches = settings.QR_STORE_URL, settings.CACHES
    settings.QR_STORE_URL = cluster.url
    settings.CACHES = {
        "default": {"BACKEND": "plumbing.rediscluster.RedisClusterCache", "LOCATION": [cluster.url]}
    }
    reset_caches()
    declare_store_whole()
    yield cluster
    # Back on the suite's own cache before the cluster goes: the clean-up clears that cache.
    settings.QR_STORE_URL, settings.CACHES = store, caches
    cluster.close()
    reset_caches()
