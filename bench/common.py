"""What the benchmarks share."""

import socket
import statistics
import time
from collections.abc import Callable


def reachable(port: int) -> bool:
    """A service answers on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def interleaved_rates(loops: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, float]:
    """Operations a second of each loop (each does ``count`` of them): the loops take turns
    for ``rounds`` rounds, so a noisy moment hits all alike, and each one's median round counts."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop()
            times[name].append(time.perf_counter() - start)
    return {name: count / statistics.median(values) for name, values in times.items()}


def qr_version(text: str) -> int:
    """The QR version a code's text needs at error correction level M."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    return qr.version
