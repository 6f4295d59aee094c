"""Chinese working days: public holidays and make-up workdays (调休).

The chinesecalendar package knows the years the State Council has published. Staff can
enter a later year in the admin (``CalendarYear`` with its ``CalendarDay`` rows), which
also overrides the package for any single day. A date that neither knows is an error
naming the year: a weekday-only guess would silently shorten a holder's loss window.
"""

from __future__ import annotations

import datetime

import chinese_calendar

from plumbing.errors import DomainError

from .models import CalendarDay, CalendarYear


def is_workday(day: datetime.date) -> bool:
    override = CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()
    if override is not None:
        return override
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if CalendarYear.objects.filter(year=day.year).exists():
            return day.weekday() < 5
        raise DomainError("calendar.year_unknown", year=day.year) from None


def add_working_days(start: datetime.date, count: int) -> datetime.date:
    """The ``count``-th working day after ``start`` (``start`` itself is not counted)."""
    day = start
    remaining = count
    while remaining > 0:
        day += datetime.timedelta(days=1)
        if is_workday(day):
            remaining -= 1
    return day


def previous_working_day(day: datetime.date) -> datetime.date:
    day -= datetime.timedelta(days=1)
    while not is_workday(day):
        day -= datetime.timedelta(days=1)
    return day
