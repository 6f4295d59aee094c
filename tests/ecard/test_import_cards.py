"""manage.py import_cards: the card centre's CSV into holders and cards."""

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Holder
from ecard import services
from ecard.importing import COLUMNS
from ecard.models import Card
from tests.support import make_id_number

HEADER = ",".join(COLUMNS)


def csv_file(tmp_path, *lines, bom=False):
    path = tmp_path / "cards.csv"
    path.write_text(("\ufeff" if bom else "") + "\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return str(path)


def good_line(number="A20000001", name="王五", id_number=None, region="11", received="yes", state="active"):
    id_number = id_number or make_id_number()
    fields = [name, "resident_id", id_number, "13800001111", region, number, "3"]
    return ",".join([*fields, "2024-01-02", "2034-01-02", received, state])


def run(path, *args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("import_cards", path, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_good_file_creates_holders_and_cards(tmp_path, db):
    path = csv_file(
        tmp_path,
        good_line("A20000001"),
        good_line("A20000002", name="赵六", received="no", state="sealed"),
    )
    out, _ = run(path)
    assert "2 created" in out
    card = Card.objects.get(number="A20000001")
    assert card.state == "active" and card.is_received and card.pin_is_initial and card.holder.name == "王五"
    assert Card.objects.get(number="A20000002").received_at is None


def test_importing_the_same_file_twice_changes_nothing(tmp_path, db):
    path = csv_file(tmp_path, good_line("A20000001"), good_line("A20000002", name="赵六"))
    run(path)
    out, _ = run(path)
    assert "0 created, 2 already imported" in out
    assert Card.objects.count() == 2 and Holder.objects.count() == 2


def test_a_reimport_does_not_undo_what_happened_to_the_card_since(tmp_path, db, system):
    path = csv_file(tmp_path, good_line("A20000001"))
    run(path)
    services.card_report_formal_loss(card=Card.objects.get(number="A20000001"), by=system)
    run(path)
    assert Card.objects.get(number="A20000001").state == "lost"


def test_a_bad_line_is_reported_with_its_number_and_nothing_is_written(tmp_path, db):
    path = csv_file(
        tmp_path,
        good_line("A20000001"),
        good_line("A20000002", id_number="110105194912310021"),  # bad check digit
        good_line("A20000003", region="99"),
        good_line("A20000004", received="no", state="active"),
    )
    with pytest.raises(CommandError, match="nothing written"):
        run(path)
    assert Card.objects.count() == 0 and Holder.objects.count() == 0


def test_bad_lines_name_their_line_and_reason(tmp_path, db, capsys):
    from io import StringIO

    path = csv_file(
        tmp_path,
        good_line("A20000001"),
        good_line("A20000002", id_number="110105194912310021"),
        "only,three,columns",
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_cards", path, stdout=StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("line 3: id_number: holder.id_number_invalid")
    assert lines[1].startswith("line 4: expected 11 columns")


def test_skip_bad_imports_the_good_lines(tmp_path, db):
    path = csv_file(tmp_path, good_line("A20000001"), good_line("A20000002", region="99"))
    out, err = run(path, "--skip-bad")
    assert "1 created" in out and "line 3: region" in err
    assert list(Card.objects.values_list("number", flat=True)) == ["A20000001"]


def test_a_second_card_for_one_holder_in_one_region_is_a_bad_line(tmp_path, db):
    id_number = make_id_number()
    path = csv_file(
        tmp_path,
        good_line("A20000001", id_number=id_number),
        good_line("A20000002", id_number=id_number),
    )
    out, err = run(path, "--skip-bad")
    assert "line 3: card.one_per_region" in err


def test_a_wrong_header_is_refused(tmp_path, db):
    path = tmp_path / "x.csv"
    path.write_text("name,id\n张三,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: header must be"):
        run(str(path))


def test_an_excel_bom_is_accepted(tmp_path, db):
    out, _ = run(csv_file(tmp_path, good_line("A20000001"), bom=True))
    assert "1 created" in out


def test_a_file_that_is_not_utf8_is_refused(tmp_path, db):
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + "\n" + good_line()).encode("gbk"))
    with pytest.raises(CommandError, match="not UTF-8"):
        run(str(path))


def test_a_sealed_imported_card_is_enabled_by_the_first_pin_change(tmp_path, db, system):
    run(csv_file(tmp_path, good_line("A20000001", state="sealed")))
    card = Card.objects.get(number="A20000001")
    services.card_change_pin(card=card, old_pin="123456", new_pin="802461", by=system)
    assert Card.objects.get(number="A20000001").state == "active"


def test_a_nul_byte_is_a_bad_line_not_a_traceback(tmp_path, db):
    path = csv_file(tmp_path, good_line("A20000001"), good_line("A20000002", name="王\x00五"))
    out, err = run(path, "--skip-bad")
    assert "1 created" in out and "line 3: name: contains a NUL byte" in err
    assert list(Card.objects.values_list("number", flat=True)) == ["A20000001"]


def test_the_same_row_twice_is_an_error_naming_both_lines(tmp_path, db):
    line = good_line("A20000001")
    path = csv_file(tmp_path, line, good_line("A20000002", name="赵六"), line)
    with pytest.raises(CommandError, match="nothing written"):
        _, err = run(path)
    _, err = run(path, "--skip-bad")
    assert "line 4: card_number: the same card as line 2" in err


def test_a_header_only_file_is_an_error(tmp_path, db):
    with pytest.raises(CommandError, match="no rows"):
        run(csv_file(tmp_path))


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_a_field_a_spreadsheet_would_run_as_a_formula_is_refused(tmp_path, db, start):
    path = csv_file(tmp_path, good_line("A20000001", name=f'{start}HYPERLINK("x")'))
    with pytest.raises(CommandError, match="nothing written"):
        run(path)
    _, err = run(path, "--skip-bad")
    assert f"line 2: name: starts with '{start}'" in err
    assert not Card.objects.exists()
