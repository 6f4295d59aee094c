"""What the benchmarks share."""

import socket


def reachable(port: int) -> bool:
    """A service answers on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False
