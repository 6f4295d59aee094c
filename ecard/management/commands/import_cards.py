from django.core.management.base import BaseCommand, CommandError

from ecard.importing import COLUMNS, BadLine, import_cards


class Command(BaseCommand):
    help = (
        "Load the card centre's CSV (UTF-8, header: " + ",".join(COLUMNS) + ") into holders and cards. "
        "Idempotent by card number. Any bad line aborts the whole file unless --skip-bad is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--skip-bad", action="store_true", help="import the good lines, report the bad")

    def handle(self, *args, file, skip_bad, **options):
        try:
            with open(file, encoding="utf-8-sig", newline="") as handle:
                report = import_cards(handle, skip_bad=skip_bad)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 (byte {exc.start})") from None
        except BadLine as exc:
            raise CommandError(f"line {exc.line}: {exc.reason}" if exc.line else exc.reason) from None

        for line_number, reason in report.bad:
            self.stderr.write(f"line {line_number}: {reason}")
        summary = f"{report.created} created, {report.existing} already imported, {len(report.bad)} bad"
        if not report.written:
            raise CommandError(f"nothing written: {summary} (use --skip-bad to import the good lines)")
        self.stdout.write(self.style.SUCCESS(summary))
