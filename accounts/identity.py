"""Identity documents accepted for a social security card, their validation and masking.

docs/domain.md lists the accepted documents. The resident ID number is the social
security number and is checked with its GB 11643 check digit (python-stdnum); the
residence permits for Hong Kong, Macao and Taiwan residents and the 2023 foreigner's
permanent residence card use the same 18-character scheme.
"""

from __future__ import annotations

import datetime
import re

from django.db import models
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from plumbing.errors import DomainError


class IdType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("居民身份证")
    HOUSEHOLD_REGISTER = "household_register", _("户口簿")
    HK_MO_TW_RESIDENCE_PERMIT = (
        "hk_mo_tw_residence_permit",
        _("港澳台居民居住证"),
    )
    HK_MO_TRAVEL_PERMIT = "hk_mo_travel_permit", _("港澳居民来往内地通行证")
    TW_TRAVEL_PERMIT = "tw_travel_permit", _("台湾居民来往大陆通行证")
    FOREIGN_PERMANENT_RESIDENCE = (
        "foreign_permanent_residence",
        _("外国人永久居留身份证"),
    )
    OVERSEAS_CHINESE_PASSPORT = "overseas_chinese_passport", _("华侨护照")


_PATTERNS: dict[str, re.Pattern[str]] = {
    IdType.HK_MO_TRAVEL_PERMIT: re.compile(r"[HM]\d{8}(\d{2})?"),
    IdType.TW_TRAVEL_PERMIT: re.compile(r"\d{8}(\d{2})?"),
    IdType.OVERSEAS_CHINESE_PASSPORT: re.compile(r"[EG][A-Z0-9]\d{7}"),
}
_OLD_PERMANENT_RESIDENCE = re.compile(r"[A-Z]{3}\d{12}")
_RESIDENCE_PERMIT_REGIONS = ("81", "82", "83")


def _gb11643(number: str) -> datetime.date:
    """Check the 18-character GB 11643 layout (birth date, check digit); return the birth date."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise DomainError("holder.id_number_invalid", field="id_number", reason=_("18位号码格式错误"))
    if ric.calc_check_digit(number) != number[-1]:
        raise DomainError("holder.id_number_invalid", field="id_number", reason=_("校验位错误"))
    try:
        return ric.get_birth_date(number)
    except stdnum_errors.ValidationError as exc:
        raise DomainError("holder.id_number_invalid", field="id_number", reason=_("出生日期无效")) from exc


def normalise_id_number(id_type: str, number: str) -> tuple[str, datetime.date | None]:
    """Validate an ID number for its document type.

    Returns the canonical form (upper case, no spaces) and the birth date when the
    number carries one; raises ``holder.id_number_invalid`` otherwise.
    """
    if id_type not in IdType.values:
        raise DomainError("holder.id_type_invalid", field="id_type")
    number = re.sub(r"\s", "", number or "").upper()
    if id_type in (IdType.RESIDENT_ID, IdType.HOUSEHOLD_REGISTER):
        try:
            number = ric.validate(number)
        except stdnum_errors.InvalidChecksum as exc:
            raise DomainError("holder.id_number_invalid", field="id_number", reason=_("校验位错误")) from exc
        except stdnum_errors.ValidationError as exc:
            raise DomainError(
                "holder.id_number_invalid",
                field="id_number",
                reason=_("号码格式、地区码或出生日期错误"),
            ) from exc
        return number, ric.get_birth_date(number)
    if id_type == IdType.HK_MO_TW_RESIDENCE_PERMIT:
        if not number.startswith(_RESIDENCE_PERMIT_REGIONS):
            raise DomainError("holder.id_number_invalid", field="id_number", reason=_("须以81、82或83开头"))
        return number, _gb11643(number)
    if id_type == IdType.FOREIGN_PERMANENT_RESIDENCE:
        if _OLD_PERMANENT_RESIDENCE.fullmatch(number):
            return number, None
        if not number.startswith("9"):
            raise DomainError("holder.id_number_invalid", field="id_number", reason=_("号码格式错误"))
        return number, _gb11643(number)
    if not _PATTERNS[id_type].fullmatch(number):
        raise DomainError("holder.id_number_invalid", field="id_number", reason=_("号码格式错误"))
    return number, None


_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# What people type around a mobile number: spaces, hyphens, dots, brackets, a country code.
_PHONE_DECORATION = re.compile(r"[\s\-.()]")
_COUNTRY_CODE = re.compile(r"^(?:\+86|0086|86)(?=1[0-9]{10}$)")


def normalise_phone(phone: str) -> str:
    """The 11 ASCII digits of a mainland mobile number, however it was spelled.

    Only ASCII digits count: ``\\d`` would also take full-width and other scripts' digits
    (``13８…``), which would let one number be registered or throttled as several.
    """
    phone = phone if isinstance(phone, str) else ""
    if not phone.isascii():
        raise DomainError("request.invalid", field="phone", detail="phone: ASCII digits only")
    phone = _COUNTRY_CODE.sub("", _PHONE_DECORATION.sub("", phone))
    if not _MOBILE.fullmatch(phone):
        raise DomainError("holder.phone_invalid", field="phone")
    return phone


# Documents whose number is an 18-character GB 11643 citizen number: one person, one number,
# whichever of these documents it was read from.
_CITIZEN_NUMBER_DOCUMENTS = {
    IdType.RESIDENT_ID,
    IdType.HOUSEHOLD_REGISTER,
    IdType.HK_MO_TW_RESIDENCE_PERMIT,
    IdType.FOREIGN_PERMANENT_RESIDENCE,
}


def person_key(id_type: str, number: str) -> str:
    """Who a (normalised) ID document names: ``cn:<citizen number>`` where the document
    carries one — a resident ID card and a household register carry the same number —
    otherwise ``<document type>:<number>``."""
    if id_type in _CITIZEN_NUMBER_DOCUMENTS and len(number) == 18:
        return f"cn:{number}"
    return f"{id_type}:{number}"


# --- Masking: the only forms of personal data that leave the admin's detail page. ---


def mask_id_number(number: str) -> str:
    """``110105194912310021`` → ``1101**********0021``."""
    if not number:
        return ""
    if len(number) >= 12:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    return number[:1] + "*" * (len(number) - 3) + number[-2:]


_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Spaces a clerk or a form put between Chinese characters: not part of the name.
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}·])\s+|\s+(?=[{_CJK}·])")


def normalise_name(name: str) -> str:
    """A person's name as recorded and compared: runs of spaces made one, and none beside a
    Chinese character (``周 晓 梅`` is ``周晓梅``; ``Li  Lei`` is ``Li Lei``)."""
    return _CJK_SPACE.sub("", " ".join((name or "").split()))


def mask_name(name: str) -> str:
    """``张三`` → ``张*``, ``张三丰`` → ``张*丰``, ``John Smith`` → ``J*** S****``."""
    name = normalise_name(name)
    if not name:
        return ""
    if " " in name:
        return " ".join(part[:1] + "*" * (len(part) - 1) for part in name.split())
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    return name[:1] + "*" * (len(name) - 2) + name[-1:]


def mask_phone(phone: str) -> str:
    if not phone:
        return ""
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def mask_card_number(number: str) -> str:
    """``A12345678`` → ``A*****678``."""
    if not number:
        return ""
    return number[:1] + "*" * (len(number) - 4) + number[-3:] if len(number) > 4 else "*" * len(number)


_MASKED_ID = re.compile(r"([0-9A-Z]{1,6})\*+([0-9A-Z]{1,6})")


def parse_masked_id(term: str) -> tuple[str, str] | None:
    """Split a masked ID number typed into a search box into its visible prefix and suffix."""
    match = _MASKED_ID.fullmatch(term.strip().upper())
    return (match.group(1), match.group(2)) if match else None
