import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from ecard import jobs, notices, services

JOBS = (
    "expiry_notices",
    "loss_deadlines",
    "replacement_ready",
    "guardian_links",
    "calendar_check",
    "housekeeping",
)


class Command(BaseCommand):
    help = "Run one scheduled job now, in the foreground, and print what it did."

    def add_arguments(self, parser):
        parser.add_argument("name", choices=JOBS)
        parser.add_argument("--date", help="expiry_notices: the day to run for (YYYY-MM-DD), default today")

    def handle(self, *args, name, date=None, **options):
        if name == "expiry_notices":
            today = datetime.date.fromisoformat(date) if date else timezone.localdate()
            chunks = jobs.expiry_chunks()
            written = sum(jobs.expiry_notices_chunk(low=lo, high=hi, today=today) for lo, hi in chunks)
            self.stdout.write(f"expiry_notices {today}: {len(chunks)} chunks, {written} notices written")
        elif name == "loss_deadlines":
            report = jobs.loss_deadlines()
            self.stdout.write(
                f"loss_deadlines: {report.reminded} reminded, {report.lapsed} lapsed, "
                f"{report.skipped} changed meanwhile and left alone"
            )
        elif name == "replacement_ready":
            self.stdout.write(f"replacement_ready: {jobs.replacement_ready()} holders told")
        elif name == "calendar_check":
            sent = services.calendar_check()
            self.stdout.write(f"calendar_check: {'supervisors told' if sent else 'nothing to tell'}")
        elif name == "guardian_links":
            self.stdout.write(f"guardian_links: {jobs.guardian_links()} links ended (wards came of age)")
        else:
            purged = jobs.housekeeping()
            self.stdout.write("housekeeping: " + ", ".join(f"{v} {k}" for k, v in purged.items()))
        delivered = notices.notices_deliver()
        self.stdout.write(f"{delivered} notices delivered")
