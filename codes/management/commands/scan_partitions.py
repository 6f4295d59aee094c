from django.core.management.base import BaseCommand

from codes.services import partitions


class Command(BaseCommand):
    help = (
        "Scan records on PostgreSQL: make the daily partitions ahead, archive (gzip CSV in the default "
        "storage, checked by row count) and drop those older than SCAN_RECORDS_KEEP_DAYS. "
        "Runs daily under beat."
    )

    def handle(self, *args, **options):
        if not partitions.partitioned():
            self.stdout.write("scan records are a plain table here (not PostgreSQL): nothing to do")
            return
        report = partitions.scan_partitions_maintain()
        self.stdout.write(f"made: {', '.join(report['made']) or 'none'}")
        for item in report["archived"]:
            self.stdout.write(
                f"archived {item['partition']}: {item['rows']} rows in {item['archive']}, dropped"
            )
        self.stdout.write(f"{len(partitions.partitions())} daily partitions attached")
