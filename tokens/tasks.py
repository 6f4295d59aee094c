from celery import shared_task

from . import services


@shared_task(name="tokens.scan_records_flush", acks_late=True, autoretry_for=(Exception,), retry_backoff=True)
def scan_records_flush() -> int:
    """Move buffered scan records into the database."""
    return services.scan_records_flush()
