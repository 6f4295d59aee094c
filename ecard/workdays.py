"""Chinese working days: public holidays and make-up workdays (调休).

The chinesecalendar package knows the years the State Council has published. Staff can
enter a later year in the admin (``CalendarYear`` with its ``CalendarDay`` rows), which
also overrides the package for any single day.

A date in a year that neither knows yet is counted without refusing or delaying anything
(a loss report must take effect at once), and counted *late*: every weekend is off (no
make-up workday is assumed) and so is every day the public holidays of such a year can take,
as far as they are known in advance — New Year (30 December to 3 January), the Spring
Festival (two days before the lunar new year to its seventh day), Qingming (2–7 April),
Labour Day (29 April to 7 May), the Dragon Boat and Mid-Autumn festivals (the lunar date and
two days either side) and National Day (29 September to 8 October). Every schedule the State
Council published since 2008 took off no day outside these (tests/ecard/test_workdays.py
checks each year the calendar package knows, the one-off 3–4 September 2015 aside) and adds
make-up workdays, so the real date is never earlier: a deadline counted so may lapse a
temporary loss late, never early. Such a date is *provisional*: the card carries the flag,
and every provisional date is computed again the moment staff enter that year
(``services.calendar_year_entered``).
"""

from __future__ import annotations

import datetime
import functools

import chinese_calendar
from chinese_calendar import constants as calendar_constants
from lunardate import LunarDate

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


def _span(first: datetime.date, last: datetime.date) -> set[datetime.date]:
    return {first + datetime.timedelta(days=n) for n in range((last - first).days + 1)}


def _around(day: datetime.date, before: int, after: int) -> set[datetime.date]:
    return _span(day - datetime.timedelta(days=before), day + datetime.timedelta(days=after))


@functools.lru_cache(maxsize=64)
def assumed_holidays(year: int) -> frozenset[datetime.date]:
    """Every day the public holidays of ``year`` can take, for a year nobody has published:
    more than the State Council will give, so that counting them off errs late."""
    date = datetime.date
    lunar = LunarDate(year, 1, 1).to_solar_date()
    days = (
        _span(date(year, 1, 1), date(year, 1, 3))
        | _span(date(year, 12, 30), date(year, 12, 31))  # the next New Year's, some years
        | _around(lunar, 2, 7)  # 除夕 and the days around it
        | _span(date(year, 4, 2), date(year, 4, 7))  # 清明 (4–6 April) with a weekend bridged
        | _span(date(year, 4, 29), date(year, 5, 7))
        | _around(LunarDate(year, 5, 5).to_solar_date(), 2, 2)
        | _around(LunarDate(year, 8, 15).to_solar_date(), 2, 2)
        | _span(date(year, 9, 29), date(year, 10, 8))
    )
    return frozenset(day for day in days if day.year == year)


def is_workday(day: datetime.date) -> bool:
    override = CalendarDay.objects.filter(date=day).values_list("is_workday", flat=True).first()
    if override is not None:
        return override
    if day.year in PACKAGE_YEARS:
        return chinese_calendar.is_workday(day)
    if day in assumed_holidays(day.year) and not CalendarYear.objects.filter(year=day.year).exists():
        return False  # a year not published yet: its holidays can fall here
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
