from django.core.management.base import BaseCommand, CommandError

from ecard.importing import COLUMNS, import_cards
from ecard.management.csvfile import load_csv


class Command(BaseCommand):
    help = (
        "Load the card centre's CSV (UTF-8, header: " + ",".join(COLUMNS) + ") into holders and cards. "
        "Idempotent by card number. Any bad line aborts the whole file unless --skip-bad is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--skip-bad", action="store_true", help="import the good lines, report the bad")

    def handle(self, *args, file, skip_bad, **options):
        report = load_csv(file, lambda lines: import_cards(lines, skip_bad=skip_bad), self.stderr)
        summary = f"{report.created} created, {report.existing} already imported, {len(report.bad)} bad"
        if not report.written:
            raise CommandError(f"nothing written: {summary} (use --skip-bad to import the good lines)")
        self.stdout.write(self.style.SUCCESS(summary))
