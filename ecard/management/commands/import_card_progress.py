from django.core.management.base import BaseCommand, CommandError

from ecard.management.csvfile import load_csv
from ecard.progress import COLUMNS, import_progress


class Command(BaseCommand):
    help = (
        "Load the card factory's progress file (UTF-8 CSV, header: " + ",".join(COLUMNS) + "). "
        "All lines or none: any bad line and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        report = load_csv(file, import_progress, self.stderr)
        summary = f"{report.moved} moved on, {report.unchanged} already there, {len(report.bad)} bad"
        if not report.written:
            raise CommandError(f"nothing written: {summary}")
        self.stdout.write(self.style.SUCCESS(summary))
