"""The card factory's progress file (制卡进度): ``reference,state,date,tracking_number``.

``reference`` is the application's id or the new card's number; ``state`` is where the card
is now: ``accepted``, ``in_production``, ``ready`` (``tracking_number`` for a posted card) or
``collected``; a rejection, which needs its reason, goes through the admin. An application
is moved on through every step up to the one named, each with its notice; a line naming the
step it is at already changes nothing. All lines or none, like ``import_cards``: any bad
line and nothing is written, each bad line named.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import uuid
from collections.abc import Iterable

from django.db import transaction

from plumbing.errors import DomainError

from .audit import Actor
from .importing import BadLine, check_cells
from .models import ApplicationState, CardApplication
from .services import application_advance

COLUMNS = ("reference", "state", "date", "tracking_number")
PATH: list[str] = [
    ApplicationState.SUBMITTED,
    ApplicationState.ACCEPTED,
    ApplicationState.IN_PRODUCTION,
    ApplicationState.READY,
    ApplicationState.COLLECTED,
]


@dataclasses.dataclass
class ProgressReport:
    moved: int = 0
    unchanged: int = 0
    bad: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    written: bool = False


def _application(reference: str) -> CardApplication:
    reference = reference.strip()
    try:
        found = CardApplication.objects.filter(public_id=uuid.UUID(reference)).first()
    except ValueError:
        found = CardApplication.objects.filter(new_card__number=reference.upper()).first()
    if found is None:
        raise BadLine(f"reference: no application or new card {reference!r}")
    return found


def _move(row: dict, by: Actor) -> bool:
    check_cells(row, COLUMNS)
    application = _application(row["reference"])
    target = row["state"].strip()
    if target not in PATH[1:]:
        raise BadLine(f"state: one of {', '.join(PATH[1:])}: {target!r}")
    try:
        datetime.date.fromisoformat(row["date"].strip())
    except ValueError:
        raise BadLine(f"date: not an ISO date (YYYY-MM-DD): {row['date']!r}") from None
    if application.state not in PATH or PATH.index(target) < PATH.index(application.state):
        raise BadLine(f"state: the application is {application.state}; it cannot become {target}")
    if application.state == target:
        return False
    for step in PATH[PATH.index(application.state) + 1 : PATH.index(target) + 1]:
        try:
            application = application_advance(
                application=application, to=step, by=by, tracking_number=row.get("tracking_number") or ""
            )
        except DomainError as exc:
            raise BadLine(f"{exc.field + ': ' if exc.field else ''}{exc.code}: {exc.message_en}") from None
    return True


def import_progress(lines: Iterable[str], *, by: Actor | None = None) -> ProgressReport:
    by = by or Actor.importer("import_card_progress")
    report = ProgressReport()
    reader = csv.DictReader(lines)
    if [h.strip() for h in (reader.fieldnames or [])] != list(COLUMNS):
        raise BadLine(f"header must be: {','.join(COLUMNS)}", line=1)
    rows = 0
    with transaction.atomic():
        for row in reader:
            rows += 1
            if None in row or any(v is None for v in row.values()):
                report.bad.append((reader.line_num, f"expected {len(COLUMNS)} columns"))
                continue
            try:
                with transaction.atomic():
                    moved = _move(row, by)
            except BadLine as exc:
                report.bad.append((reader.line_num, exc.reason))
                continue
            report.moved += moved
            report.unchanged += not moved
        if rows == 0:
            raise BadLine("no rows: the file has a header and nothing else")
        if report.bad:
            transaction.set_rollback(True)
            return report
    report.written = True
    return report
