"""Scan records by day on PostgreSQL: today's partition, partitions ahead, archive and drop."""

import datetime
import gzip
import io

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from codes.models import ScanRecord
from codes.services import partitions
from tests.support import issue_code, requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db, pytest.mark.dates]


def record(scanner, day: datetime.date, ecard="a" * 24, hour=12, **extra) -> ScanRecord:
    moment = datetime.datetime.combine(day, datetime.time(hour), tzinfo=timezone.get_current_timezone())
    return ScanRecord.objects.create(
        device_id=scanner.device.pk,
        ecard_reference=ecard,
        purpose="identity",
        nonce=f"{moment.timestamp():016.0f}"[-16:],
        result="accepted",
        scanned_at=moment,
        **extra,
    )


def test_a_fresh_database_has_the_table_partitioned_with_today_and_the_days_ahead():
    assert partitions.partitioned()
    days = set(partitions.partitions())
    today = timezone.localdate()
    assert {today + datetime.timedelta(days=n) for n in range(8)} <= days


def test_a_verification_lands_in_todays_partition(app_holder, scanner):
    answer = scanner.verdict(issue_code(app_holder, "identity"))
    from codes.services import scan_records_flush

    scan_records_flush()
    assert partitions.partition_of(answer["scan_id"]) == partitions.partition_name(timezone.localdate())


def test_the_daily_job_makes_missing_partitions_ahead(settings):
    far = timezone.localdate() + datetime.timedelta(days=20)
    made = partitions.scan_partitions_ensure(today=far, ahead=2)
    assert partitions.partition_name(far + datetime.timedelta(days=2)) in made
    assert partitions.scan_partitions_ensure(today=far, ahead=2) == []  # nothing twice


def test_a_row_caught_by_the_default_partition_moves_into_its_days_partition_when_made(scanner):
    far = timezone.localdate() + datetime.timedelta(days=40)
    stray = record(scanner, far)
    assert partitions.partition_of(stray.pk) == partitions.DEFAULT
    partitions.scan_partitions_ensure(today=far, ahead=0)
    assert partitions.partition_of(stray.pk) == partitions.partition_name(far)


def test_an_old_partition_is_archived_with_its_rows_counted_then_dropped(scanner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    old = timezone.localdate() - datetime.timedelta(days=settings.SCAN_RECORDS_KEEP_DAYS + 3)
    with connection.cursor() as cursor:
        partitions.partition_create(cursor, old)
    rows = [record(scanner, old, hour=h) for h in range(5)]
    kept = record(scanner, timezone.localdate())
    out = io.StringIO()
    call_command("scan_partitions", stdout=out)
    assert f"archived {partitions.partition_name(old)}: 5 rows" in out.getvalue()
    assert old not in partitions.partitions()
    assert not ScanRecord.objects.filter(pk__in=[r.pk for r in rows]).exists()
    assert ScanRecord.objects.filter(pk=kept.pk).exists()
    archive = f"{partitions.ARCHIVE_FOLDER}/{partitions.partition_name(old)}.csv.gz"
    with storages["default"].open(archive, "rb") as handle:
        text = gzip.decompress(handle.read()).decode()
    assert all(str(r.pk) in text for r in rows) and partitions.archived_rows(archive) == 5


def test_a_partition_whose_archive_comes_out_short_is_kept(scanner, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    old = timezone.localdate() - datetime.timedelta(days=settings.SCAN_RECORDS_KEEP_DAYS + 5)
    with connection.cursor() as cursor:
        partitions.partition_create(cursor, old)
    row = record(scanner, old)
    monkeypatch.setattr(partitions, "archived_rows", lambda archive: 0)  # storage lost a row
    with pytest.raises(partitions.ArchiveMismatch):
        partitions.scan_partitions_retire()
    assert old in partitions.partitions() and ScanRecord.objects.filter(pk=row.pk).exists()


def test_a_holders_history_spanning_two_partitions_is_whole_and_newest_first(app_holder, scanner):
    reference = app_holder.card.ecard.reference
    today = timezone.localdate()
    yesterday = record(scanner, today - datetime.timedelta(days=1), ecard=reference)
    now = record(scanner, today, ecard=reference, hour=0)
    assert partitions.partition_of(yesterday.pk) != partitions.partition_of(now.pk)
    response = app_holder.get("/api/v1/ecard/usage")
    assert response.status_code == 200
    times = [item["scanned_at"] for item in response.json()["results"]]
    assert len(times) == 2 and times == sorted(times, reverse=True)


def test_the_usage_query_reads_an_index_in_each_partition(app_holder):
    reference = app_holder.card.ecard.reference
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT * FROM tokens_scanrecord WHERE ecard_reference = %s "
            "ORDER BY scanned_at DESC LIMIT 20",
            [reference],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "scan_ecard_latest" in plan or "ecard_reference_scanned_at" in plan, plan


def test_an_offline_upload_retried_is_still_one_record(app_holder, scanner):
    text = issue_code(app_holder, "culture")
    scan = {"code": text, "scanned_at": timezone.now().isoformat()}
    for _ in range(2):
        response = scanner.api.post(
            "/api/v1/scanner/scans", {"scans": [scan]}, format="json", **scanner.auth()
        )
        assert response.status_code == 200, response.content
    assert ScanRecord.objects.filter(offline=True).count() == 1
