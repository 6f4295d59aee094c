"""Working days come from the published calendar, or from what staff entered for later years."""

import datetime

import pytest

from ecard import workdays
from ecard.models import CalendarDay, CalendarYear

pytestmark = pytest.mark.dates


def test_a_make_up_workday_on_a_saturday_is_a_working_day(db):
    assert workdays.is_workday(datetime.date(2025, 10, 11))


def test_a_public_holiday_on_a_weekday_is_not(db):
    assert not workdays.is_workday(datetime.date(2025, 10, 2))


def test_a_year_nobody_knows_counts_by_weekends_and_is_provisional(db):
    # 2031-03-02 is a Sunday: Monday to Wednesday.
    assert workdays.add_working_days(datetime.date(2031, 3, 2), 3) == datetime.date(2031, 3, 5)
    assert workdays.provisional(datetime.date(2031, 3, 2), datetime.date(2031, 3, 5))
    assert not workdays.provisional(datetime.date(2025, 3, 2), datetime.date(2025, 3, 5))


def test_a_year_entered_by_staff_is_used_with_its_holidays_and_make_up_days(db):
    year = CalendarYear.objects.create(year=2031, note="国务院办公厅通知")
    CalendarDay.objects.create(year=year, date=datetime.date(2031, 1, 1), name="元旦")
    CalendarDay.objects.create(year=year, date=datetime.date(2031, 1, 4), is_workday=True, name="调休")
    assert not workdays.is_workday(datetime.date(2031, 1, 1))  # a Wednesday holiday
    assert workdays.is_workday(datetime.date(2031, 1, 4))  # a Saturday make-up workday
    assert workdays.is_workday(datetime.date(2031, 1, 2))  # an ordinary Thursday
    assert not workdays.is_workday(datetime.date(2031, 1, 5))  # an ordinary Sunday
    assert workdays.add_working_days(datetime.date(2030, 12, 31), 3) == datetime.date(2031, 1, 4)


def test_an_entered_day_overrides_the_package(db):
    year = CalendarYear.objects.create(year=2025)
    CalendarDay.objects.create(year=year, date=datetime.date(2025, 10, 9), name="临时休息")
    assert not workdays.is_workday(datetime.date(2025, 10, 9))
