"""Loading the card centre's production data (a UTF-8 CSV) into holders and cards."""

from __future__ import annotations

import csv
import dataclasses
import datetime
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.services import holder_get_or_create
from plumbing.errors import DomainError

from .audit import Actor
from .models import Card, CardState, Region
from .services import card_create

COLUMNS = (
    "name",
    "id_type",
    "id_number",
    "phone",
    "region",
    "card_number",
    "generation",
    "issued_on",
    "valid_until",
    "received",
    "state",
)


class BadLine(Exception):
    def __init__(self, reason: str, *, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclasses.dataclass
class ImportReport:
    created: int = 0
    existing: int = 0
    bad: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    written: bool = False


def _date(row: dict, column: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(row[column].strip())
    except ValueError:
        raise BadLine(f"{column}: not an ISO date (YYYY-MM-DD): {row[column]!r}") from None


# A cell starting with one of these is run as a formula by a spreadsheet that opens the
# file or an export of it (CSV injection): no field of ours legitimately starts so.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def check_cells(row: dict, columns=COLUMNS) -> None:
    for column in columns:
        value = row.get(column) or ""
        if "\x00" in value:
            raise BadLine(f"{column}: contains a NUL byte")
        if value.startswith(FORMULA_STARTS):
            raise BadLine(f"{column}: starts with {value[0]!r}, which a spreadsheet runs as a formula")


def _import_row(row: dict, by: Actor) -> bool:
    """Create the row's holder and card; False when the card was already imported."""
    check_cells(row)
    missing = [c for c in COLUMNS if c != "phone" and not (row.get(c) or "").strip()]
    if missing:
        raise BadLine(f"empty column(s): {', '.join(missing)}")
    number = row["card_number"].strip().upper()
    if not number.isalnum() or len(number) > 20:
        raise BadLine(f"card_number: letters and digits, at most 20: {number!r}")
    region = row["region"].strip()
    if region not in Region.values:
        raise BadLine(f"region: not a province code: {region!r}")
    try:
        generation = int(row["generation"])
    except ValueError:
        generation = 0
    if generation not in (1, 2, 3):
        raise BadLine(f"generation: 1, 2 or 3: {row['generation']!r}")
    issued_on, valid_until = _date(row, "issued_on"), _date(row, "valid_until")
    if valid_until <= issued_on:
        raise BadLine("valid_until: must be after issued_on")
    received = row["received"].strip().lower()
    if received not in ("yes", "no"):
        raise BadLine(f"received: yes or no: {row['received']!r}")
    state = row["state"].strip().lower()
    if state not in (CardState.SEALED, CardState.ACTIVE):
        raise BadLine(f"state: sealed or active: {row['state']!r}")
    if state == CardState.ACTIVE and received == "no":
        raise BadLine("state: an active card must have been received")

    try:
        holder, _ = holder_get_or_create(
            name=row["name"],
            id_type=row["id_type"].strip(),
            id_number=row["id_number"],
            phone=(row.get("phone") or "").strip(),
            by=by,
        )
        existing = Card.objects.filter(number=number).only("holder_id").first()
        if existing:
            if existing.holder_id != holder.pk:
                raise BadLine("card_number: already belongs to another holder")
            return False
        card_create(
            holder=holder,
            region=region,
            number=number,
            generation=generation,
            issued_on=issued_on,
            valid_until=valid_until,
            # The file says only that the card was collected, not when: the day it was issued
            # is the earliest it can have been.
            received_at=(
                timezone.make_aware(datetime.datetime.combine(issued_on, datetime.time()))
                if received == "yes"
                else None
            ),
            state=state,
            by=by,
        )
    except DomainError as exc:
        where = f"{exc.field}: " if exc.field else ""
        raise BadLine(f"{where}{exc.code}: {exc.message_en}") from None
    return True


def read_rows(lines: Iterable[str]) -> Iterable[tuple[int, dict | str | None]]:
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if sorted(header) != sorted(COLUMNS):
        raise BadLine(f"header must be: {','.join(COLUMNS)}", line=1)
    reader.fieldnames = header
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a line the csv module itself cannot read
            yield reader.line_num, f"unreadable line: {exc}"
            continue
        if None in row or any(v is None for v in row.values()):
            yield reader.line_num, None
        else:
            yield reader.line_num, row


def import_cards(lines: Iterable[str], *, skip_bad: bool = False, by: Actor | None = None) -> ImportReport:
    """Import every line, or nothing when any line is bad and ``skip_bad`` is not given.

    Idempotent by card number: a card already on file is counted as existing and left as it
    is — its lifecycle since the first import belongs to the services, not to the file. The
    same card twice in one file is an error on the second line, naming the first; a file
    with no rows is an error.
    """
    by = by or Actor.importer()
    report = ImportReport()
    seen: dict[str, int] = {}
    rows = 0
    with transaction.atomic():
        for line_number, row in read_rows(lines):
            rows += 1
            if not isinstance(row, dict):
                report.bad.append((line_number, row or f"expected {len(COLUMNS)} columns"))
                continue
            number = (row.get("card_number") or "").strip().upper()
            if number in seen:
                report.bad.append((line_number, f"card_number: the same card as line {seen[number]}"))
                continue
            if number:
                seen[number] = line_number
            try:
                with transaction.atomic():
                    created = _import_row(row, by)
            except BadLine as exc:
                report.bad.append((line_number, exc.reason))
                continue
            if created:
                report.created += 1
            else:
                report.existing += 1
        if rows == 0:
            raise BadLine("no rows: the file has a header and nothing else")
        if report.bad and not skip_bad:
            transaction.set_rollback(True)
            return report
    report.written = True
    return report
