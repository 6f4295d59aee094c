from celery import shared_task

from . import services
from .services import partitions


@shared_task(name="tokens.scan_records_flush", acks_late=True, autoretry_for=(Exception,), retry_backoff=True)
def scan_records_flush() -> int:
    """Move buffered scan records into the database."""
    return services.scan_records_flush()


@shared_task(name="tokens.scan_partitions_maintain", acks_late=True)
def scan_partitions_maintain() -> dict:
    """Scan-record partitions made ahead, and old ones archived and dropped (PostgreSQL)."""
    return partitions.scan_partitions_maintain()
