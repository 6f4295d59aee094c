"""What the commands that load a CSV file share: reading it, and telling a person what was wrong."""

from collections.abc import Callable

from django.core.management.base import CommandError

from ecard.importing import BadLine


def load_csv(file: str, load: Callable, stderr):
    """Run ``load`` over the UTF-8 (BOM allowed) file's lines and write each bad line to stderr.

    A file that cannot be read, is not UTF-8, or is wrong as a whole is a ``CommandError``.
    """
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            report = load(handle)
    except OSError as exc:
        raise CommandError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CommandError(f"{file} is not UTF-8 (byte {exc.start})") from None
    except BadLine as exc:
        raise CommandError(f"line {exc.line}: {exc.reason}" if exc.line else exc.reason) from None
    for line_number, reason in report.bad:
        stderr.write(f"line {line_number}: {reason}")
    return report
