"""Chinese working days: public holidays and make-up workdays (调休).

The chinesecalendar package knows the years the State Council has published. Staff can
enter a later year in the admin (``CalendarYear`` with its ``CalendarDay`` rows), which
also overrides the package for any single day.

A date in a year that neither knows yet counts by weekends alone: no rule may be refused
or delayed for a calendar reason (a loss report must take effect at once). Such a date is
*provisional*: the card carries the flag, and every provisional date is computed again the
moment staff enter that year (``services.calendar_year_entered``).
"""

from __future__ import annotations

import datetime

import chinese_calendar
from chinese_calendar import constants as calendar_constants

from .models import CalendarDay, CalendarYear

PACKAGE_YEARS = range(min(calendar_constants.holidays).year, max(calendar_constants.holidays).year + 1)


def year_known(year: int) -> bool:
    return year in PACKAGE_YEARS or CalendarYear.objects.filter(year=year).exists()


def last_known_year() -> int:
    """The last year before the first one nobody has entered."""
    year = PACKAGE_YEARS[-1]
    while CalendarYear.objects.filter(year=year + 1).exists():
        year += 1
    return year


def is_workday(day: datetime.date) -> bool:
    override = CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()
    if override is not None:
        return override
    if day.year in PACKAGE_YEARS:
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5  # entered by staff without this day listed, or not known yet


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


def provisional(start: datetime.date, end: datetime.date) -> bool:
    """Whether a date counted from ``start`` to ``end`` leaned on a year not known yet."""
    return any(not year_known(year) for year in range(start.year, end.year + 1))
