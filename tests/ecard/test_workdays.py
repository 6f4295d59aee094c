"""Working days come from the published calendar, or from what staff entered for later years."""

import datetime

import chinese_calendar
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


# A one-off: the 70th anniversary of the victory in 1945, announced that year.
ONE_OFF_HOLIDAYS = {datetime.date(2015, 9, 3), datetime.date(2015, 9, 4)}


@pytest.mark.parametrize("year", [y for y in workdays.PACKAGE_YEARS if y >= 2008])
def test_every_weekday_a_published_schedule_took_off_is_one_a_provisional_count_takes_off_too(year):
    # The holiday system since 2008: had the year been unknown, counting would have skipped
    # every day it took off (and more), so a provisional date is never earlier than the real.
    day, missed = datetime.date(year, 1, 1), []
    while day.year == year:
        real_day_off = not chinese_calendar.is_workday(day)
        if real_day_off and day.weekday() < 5 and day not in workdays.assumed_holidays(year):
            missed.append(day)
        day += datetime.timedelta(days=1)
    assert [d for d in missed if d not in ONE_OFF_HOLIDAYS] == []


def test_a_year_nobody_knows_skips_the_days_its_holidays_can_take(db):
    # 2031: the lunar new year is 23 January, National Day a Wednesday.
    assert not workdays.is_workday(datetime.date(2031, 1, 1))
    assert not workdays.is_workday(datetime.date(2031, 1, 24))  # Spring Festival
    assert not workdays.is_workday(datetime.date(2031, 10, 6))  # a Monday in the National Day week
    assert workdays.is_workday(datetime.date(2031, 10, 9))  # the Thursday after
    # 30 September is a Tuesday; 29 Sep–8 Oct off: the third working day is Monday 13 October.
    assert workdays.add_working_days(datetime.date(2031, 9, 26), 3) == datetime.date(2031, 10, 13)


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
