"""The ``[calendar]`` table of the rules file: public holidays of the sites.

A date is ``"MM-DD"`` (that day every year) or ``"YYYY-MM-DD"`` (that day of one year,
for movable feasts such as Easter or Chinese New Year; an unquoted TOML date works
too). ``holidays`` apply to every site; ``[calendar.by_timezone]`` adds the dates of
the sites whose ``timezone`` (fleet file) is that IANA name. On a holiday of a site, by
its local date, the operations rules neither judge nor learn its production line's
hours (`riskstream.detectors.operations`), and every hour is quiet for the movement of
its collateral lots and not learned into their schedules (`riskstream.detectors.movement`).
The built-in lists are the fixed-date holidays the simulator gives the timezones of its
regions.
"""

import re
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

_DATE = re.compile(r"(?:(\d{4})-)?(\d{2})-(\d{2})")
_LEAP_YEAR = 2000  # "02-29" is a day of some years

_DEFAULT_BY_TIMEZONE = {  # the same as in config/rules.toml
    "Europe/Amsterdam": "01-01 04-27 05-05 12-25 12-26",
    "Europe/Berlin": "01-01 05-01 10-03 12-25 12-26",
    "Europe/Brussels": "01-01 05-01 07-21 08-15 11-01 11-11 12-25",
    "Europe/Paris": "01-01 05-01 05-08 07-14 08-15 11-01 11-11 12-25",
    "Europe/Rome": "01-01 01-06 04-25 05-01 06-02 08-15 11-01 12-08 12-25",
    "Europe/Madrid": "01-01 01-06 05-01 08-15 10-12 11-01 12-08 12-25",
    "Europe/Warsaw": "01-01 01-06 05-01 05-03 08-15 11-01 11-11 12-25",
    "Asia/Shanghai": "01-01 05-01 05-02 05-03 10-01 10-02 10-03 10-04",
    "America/Chicago": "01-01 06-19 07-04 11-11 12-25",
    "America/Sao_Paulo": "01-01 04-21 05-01 09-07 10-12 11-02 11-15 12-25",
    "Asia/Singapore": "01-01 05-01 08-09 12-25",
    "Asia/Kolkata": "01-26 08-15 10-02 12-25",
}


def _as_text(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _is_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    year, month, day = match.groups()
    try:
        date(int(year or _LEAP_YEAR), int(month), int(day))
    except ValueError:
        return False
    return True


def _check_date(value: str) -> str:
    if not _is_date(value):
        raise ValueError("not a date: use MM-DD (every year) or YYYY-MM-DD (one year)")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown IANA timezone (e.g. Europe/Berlin, Asia/Shanghai)") from None
    return value


HolidayDate = Annotated[str, BeforeValidator(_as_text), AfterValidator(_check_date)]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]


def _default_by_timezone() -> dict[str, list[str]]:
    return {zone: days.split() for zone, days in _DEFAULT_BY_TIMEZONE.items()}


class CalendarSettings(BaseModel):
    """The ``[calendar]`` table: public holidays on which production lines are not judged
    and collateral lots are out of hours all day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: list[HolidayDate] = Field(
        default_factory=list, description="holidays of every site: MM-DD or YYYY-MM-DD"
    )
    by_timezone: dict[TimezoneName, list[HolidayDate]] = Field(
        default_factory=_default_by_timezone,
        description="further holidays of the sites in an IANA timezone",
    )

    def is_holiday(self, timezone: str, day: date) -> bool:
        """Whether local ``day`` is a holiday of a site in ``timezone``."""
        every_year = f"{day.month:02d}-{day.day:02d}"
        one_year = f"{day.year:04d}-{every_year}"
        for days in (self.holidays, self.by_timezone.get(timezone, ())):
            if every_year in days or one_year in days:
                return True
        return False
