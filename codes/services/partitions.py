"""Scan records by day: on PostgreSQL ``tokens_scanrecord`` is partitioned by ``scanned_at``,
one partition a day (days of ``TIME_ZONE``), made ``SCAN_PARTITIONS_AHEAD_DAYS`` ahead; a
partition older than ``SCAN_RECORDS_KEEP_DAYS`` is detached, written to a gzip CSV through
Django's storage API, checked row by row against the count, then dropped. SQLite keeps a
plain table and none of this runs.

A row whose day has no partition (an offline device with its clock years off) lands in the
default partition; making that day's partition moves such rows into it.

Hand-written DDL rather than django-postgres-extra or pg_partman: the first replaces the
database backend and the model's base class and has no SQLite path; the second is an
extension to install as superuser whose retention drops a partition without the archive and
the count check. The statements below are the few that one daily table needs.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import gzip
import re
import tempfile
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import connection, transaction
from django.utils import timezone

TABLE = "tokens_scanrecord"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"{TABLE}_p(\d{{8}})")
ARCHIVE_FOLDER = "scan-archive"


class ArchiveMismatch(RuntimeError):
    """The archive written does not hold every row of the partition: nothing was dropped."""


def partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = %s",
            [TABLE],
        )
        return cursor.fetchone() is not None


def partition_name(day: datetime.date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _bounds(day: datetime.date) -> tuple[str, str]:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
    return start.isoformat(), end.isoformat()


def partitions() -> dict[datetime.date, str]:
    """The daily partitions attached now, by day."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = {}
    for name in names:
        match = _NAME.fullmatch(name)
        if match:
            found[datetime.datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def partition_create(cursor: Any, day: datetime.date) -> str:
    """The day's partition, with any rows of that day the default partition caught moved in."""
    name = partition_name(day)
    start, end = _bounds(day)
    with transaction.atomic():
        cursor.execute(f"CREATE TEMP TABLE moving (LIKE {TABLE}) ON COMMIT DROP")
        cursor.execute(
            f"WITH gone AS (DELETE FROM {DEFAULT} WHERE scanned_at >= %s AND scanned_at < %s RETURNING *) "
            "INSERT INTO moving SELECT * FROM gone",
            [start, end],
        )
        cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ('{start}') TO ('{end}')")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM moving")
        cursor.execute("DROP TABLE moving")  # not left for the next day made in this transaction
    return name


def scan_partitions_ensure(*, today: datetime.date | None = None, ahead: int | None = None) -> list[str]:
    """Make the partitions from yesterday to ``ahead`` days on that are missing; their names."""
    if not partitioned():
        return []
    today = today or timezone.localdate()
    ahead = settings.SCAN_PARTITIONS_AHEAD_DAYS if ahead is None else ahead
    have = partitions()
    made = []
    with connection.cursor() as cursor:
        for offset in range(-1, ahead + 1):
            day = today + datetime.timedelta(days=offset)
            if day not in have:
                made.append(partition_create(cursor, day))
    return made


@dataclasses.dataclass(frozen=True)
class Archived:
    partition: str
    rows: int
    archive: str


def _write_archive(cursor: Any, name: str) -> str:
    """COPY the detached partition into a gzip CSV in the default storage; its storage name."""
    with tempfile.TemporaryFile() as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb") as packed:
            with cursor.cursor.copy(f"COPY {name} TO STDOUT (FORMAT csv, HEADER)") as copy:
                for data in copy:
                    packed.write(data)
        raw.seek(0)
        return storages["default"].save(f"{ARCHIVE_FOLDER}/{name}.csv.gz", File(raw))


def archived_rows(archive: str) -> int:
    """How many records an archive holds, read back from storage (the header not counted)."""
    with storages["default"].open(archive, "rb") as handle, gzip.open(handle, "rt", newline="") as text:
        return sum(1 for _ in csv.reader(text)) - 1


def scan_partitions_retire(
    *, today: datetime.date | None = None, keep_days: int | None = None
) -> list[Archived]:
    """Archive and drop the partitions older than ``keep_days``; what was archived."""
    if not partitioned():
        return []
    today = today or timezone.localdate()
    keep_days = settings.SCAN_RECORDS_KEEP_DAYS if keep_days is None else keep_days
    oldest_kept = today - datetime.timedelta(days=keep_days)
    done = []
    for day, name in sorted(partitions().items()):
        if day >= oldest_kept:
            continue
        with connection.cursor() as cursor:
            # Foreign-key checks still deferred in this transaction would block the drop.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # Detached first: no scan can land in it while it is written out.
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
            cursor.execute(f"SELECT count(*) FROM {name}")
            rows = cursor.fetchone()[0]
            archive = _write_archive(cursor, name)
            if archived_rows(archive) != rows:
                storages["default"].delete(archive)
                start, end = _bounds(day)
                cursor.execute(
                    f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
                )
                raise ArchiveMismatch(f"{name}: the archive does not hold its {rows} rows; kept attached")
            cursor.execute(f"DROP TABLE {name}")
        done.append(Archived(name, rows, archive))
    return done


def scan_partitions_maintain(*, today: datetime.date | None = None) -> dict:
    """The daily job: partitions ahead made, old ones archived and dropped."""
    made = scan_partitions_ensure(today=today)
    archived = scan_partitions_retire(today=today)
    return {"made": made, "archived": [dataclasses.asdict(a) for a in archived]}


def partition_of(record_id: Any) -> str | None:
    """Which partition holds a record (for operators and tests)."""
    if not partitioned():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {TABLE} WHERE id = %s", [str(record_id)])
        row = cursor.fetchone()
    return str(row[0]) if row else None
