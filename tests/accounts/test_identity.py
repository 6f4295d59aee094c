"""ID documents are validated for their type; personal data leaves only in masked form."""

import pytest

from accounts.identity import (
    mask_card_number,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
)
from plumbing.errors import DomainError


def test_a_resident_id_with_a_valid_check_digit_is_accepted_with_its_birth_date():
    number, born = normalise_id_number("resident_id", "11010519491231002x")
    assert number == "11010519491231002X" and born.isoformat() == "1949-12-31"


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("resident_id", "110105194912310021"),  # wrong check digit
        ("resident_id", "11010519491331002X"),  # month 13
        ("resident_id", "1101051949123100"),  # too short
        ("hk_mo_tw_residence_permit", "110000199001010010"),  # not 81/82/83
        ("hk_mo_travel_permit", "X12345678"),
        ("overseas_chinese_passport", "123"),
        ("passport_of_atlantis", "123456"),
    ],
)
def test_an_invalid_id_number_is_refused_with_a_code(id_type, number):
    with pytest.raises(DomainError) as exc:
        normalise_id_number(id_type, number)
    assert exc.value.code in ("holder.id_number_invalid", "holder.id_type_invalid")


@pytest.mark.parametrize(
    ("id_type", "number"),
    [
        ("hk_mo_tw_residence_permit", "810000199408230021"[:-1] + "X"),
        ("hk_mo_travel_permit", "H12345678"),
        ("tw_travel_permit", "12345678"),
        ("foreign_permanent_residence", "USA123456789012"),
        ("overseas_chinese_passport", "E12345678"),
    ],
)
def test_other_accepted_documents_are_recorded_with_their_number(id_type, number):
    from stdnum.cn import ric

    if id_type == "hk_mo_tw_residence_permit":
        number = number[:-1] + ric.calc_check_digit(number)
    assert normalise_id_number(id_type, number)[0] == number


def test_spaces_between_chinese_characters_are_no_part_of_a_name_and_hide_nothing_when_masked():
    from accounts.identity import normalise_name

    assert normalise_name(" 周 晓  梅 ") == "周晓梅" and normalise_name("买买提 · 艾力") == "买买提·艾力"
    assert normalise_name("Li   Lei") == "Li Lei"
    assert mask_name("周 晓 梅") == "周*梅" and mask_name("Li Lei") == "L* L**"


def test_masks():
    assert mask_id_number("110105194912310021") == "1101**********0021"
    assert mask_name("张三") == "张*" and mask_name("张三丰") == "张*丰" and mask_name("欧阳修文") == "欧**文"
    assert mask_phone("13800001234") == "138****1234"
    assert mask_card_number("A12345678") == "A*****678"
