from django.core.management.base import BaseCommand, CommandError

from ecard.importing import BadLine
from ecard.progress import COLUMNS, import_progress


class Command(BaseCommand):
    help = (
        "Load the card factory's progress file (UTF-8 CSV, header: " + ",".join(COLUMNS) + "). "
        "All lines or none: any bad line and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            with open(file, encoding="utf-8-sig", newline="") as handle:
                report = import_progress(handle)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 (byte {exc.start})") from None
        except BadLine as exc:
            raise CommandError(f"line {exc.line}: {exc.reason}" if exc.line else exc.reason) from None
        for line_number, reason in report.bad:
            self.stderr.write(f"line {line_number}: {reason}")
        summary = f"{report.moved} moved on, {report.unchanged} already there, {len(report.bad)} bad"
        if not report.written:
            raise CommandError(f"nothing written: {summary}")
        self.stdout.write(self.style.SUCCESS(summary))
