"""Personal data at rest: sealed columns, blind indexes, key rotation, and both profiles."""

import io

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection

from accounts.models import Holder, User
from ecard.models import AuditEvent, Card, CardApplication
from plumbing import pii
from tests.ecard.services.test_applications import Account, new_card_fields
from tests.ecard.test_admin import AGENT, operate_url
from tests.support import DEATH_CERTIFICATE, PASSWORD, make_id_number

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_keys(settings, tmp_path, _pii_keys_dir):
    """The session's keys copied to a folder of this test's, so keys it makes stay here."""
    import shutil

    shutil.copytree(_pii_keys_dir, tmp_path / "pii-keys")
    settings.PII_KEYS_DIR = tmp_path / "pii-keys"


def every_stored_text() -> str:
    """Every row of every table, as the database holds it: what a leaked backup shows."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            texts.extend(str(row) for row in cursor.fetchall())
    return "\n".join(texts)


def quiet(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


class TestNothingInClear:
    def test_no_name_id_number_phone_address_or_agent_is_in_any_table(
        self, app_holder, staff_client, supervisor
    ):
        holder = app_holder.card.holder
        account = Account("13900004444")
        fields = new_card_fields(delivery="post", outlet="", postal_address="北京市东城区东四十条甲22号")
        assert account.apply(**fields).status_code == 201
        card = app_holder.card
        staff_client(supervisor).post(
            operate_url(card, "cancel"), {"reason": "deceased", **AGENT, **DEATH_CERTIFICATE}
        )
        assert AuditEvent.objects.filter(action="card.cancelled").exists()  # the agent was recorded
        stored = every_stored_text()
        secrets_at_rest = [
            holder.name,
            holder.id_number,
            holder.phone,
            fields["name"],
            fields["id_number"],
            "13900004444",
            "东四十条",
            AGENT["agent_id_number"],
            "张 伟",
        ]
        secrets_at_rest += [user.phone for user in User.objects.exclude(phone=None)]  # login phones
        assert len(secrets_at_rest) >= 11
        assert [value for value in secrets_at_rest if value in stored] == []
        # …and the service still reads every one of them.
        assert Holder.objects.get(pk=holder.pk).id_number == holder.id_number
        assert CardApplication.objects.get().postal_address == "北京市东城区东四十条甲22号"
        event = AuditEvent.objects.get(action="card.cancelled")
        assert (event.agent_name, event.agent_id_number) == ("张 伟", AGENT["agent_id_number"])

    def test_a_sealed_value_moved_to_another_column_does_not_open(self, holder):
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM accounts_holder WHERE id = %s", [holder.pk])
            sealed_name = cursor.fetchone()[0]
            cursor.execute(
                "UPDATE accounts_holder SET id_number = %s WHERE id = %s", [sealed_name, holder.pk]
            )
        with pytest.raises(pii.SealError):
            Holder.objects.get(pk=holder.pk)

    def test_a_sealed_column_cannot_be_searched_by_value_by_mistake(self, holder):
        from django.core.exceptions import FieldError

        with pytest.raises(FieldError):
            list(Holder.objects.filter(id_number=holder.id_number))
        with pytest.raises(FieldError):
            list(Holder.objects.filter(name__contains=holder.name[:1]))


class TestLookupsThroughTheIndex:
    def test_a_holder_is_found_by_id_number_and_phone_and_a_second_one_is_refused(self, holder, system):
        assert Holder.objects.get(id_number_index=holder.id_number).pk == holder.pk
        assert Holder.objects.get(phone_index=holder.phone).pk == holder.pk
        with pytest.raises(IntegrityError):
            Holder.objects.create(
                name="另一个人",
                id_type="resident_id",
                id_number=holder.id_number,
                person_key=f"cn:{holder.id_number}",
            )

    def test_an_account_signs_in_by_its_sealed_phone_and_its_username_is_not_the_phone(self, api):
        response = api.post(
            "/api/v1/auth/register", {"phone": "139 0000 5555", "password": PASSWORD}, format="json"
        )
        assert response.status_code == 201
        user = User.objects.get(phone_index="13900005555")
        assert "13900005555" not in user.username
        signed_in = api.post(
            "/api/v1/auth/token", {"phone": "13900005555", "password": PASSWORD}, format="json"
        )
        assert signed_in.status_code == 200 and "access" in signed_in.json()
        again = api.post(
            "/api/v1/auth/register", {"phone": "13900005555", "password": PASSWORD}, format="json"
        )
        assert (again.status_code, again.json()["code"]) == (409, "account.phone_taken")
        wrong = api.post("/api/v1/auth/token", {"phone": "13900005556", "password": PASSWORD}, format="json")
        assert (wrong.status_code, wrong.json()["code"]) == (401, "auth.invalid_credentials")

    def test_one_card_per_region_still_holds(self, card, make_card):
        from plumbing.errors import DomainError

        with pytest.raises((DomainError, IntegrityError)):
            make_card(holder=card.holder, region=card.region, number="B99999999")
        assert Card.objects.filter(holder=card.holder).count() == 1

    def test_staff_find_a_holder_by_full_id_number_phone_or_masked_id_in_the_admin(
        self, staff_client, clerk, holder, make_holder
    ):
        other = make_holder(name="李四", id_number=make_id_number(sequence=77))
        client = staff_client(clerk)
        for term in (holder.id_number, holder.phone, holder.id_number_masked):
            page = client.get("/admin/accounts/holder/", {"q": term}).content.decode()
            assert holder.name_masked in page and other.phone_masked not in page, term
        assert (
            holder.name_masked
            not in client.get("/admin/accounts/holder/", {"q": holder.name}).content.decode()
        )


def stored_keys(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY id")
        return [pii.key_of(value) for (value,) in cursor.fetchall()]


@pytest.mark.usefixtures("own_keys")
class TestRotation:
    def test_rotating_mid_way_then_running_again_finishes_with_every_row_on_the_new_key(
        self, make_holder, app_holder
    ):
        holders = [make_holder(name=f"测试{i}", id_number=make_id_number(sequence=100 + i)) for i in range(7)]
        old_key = pii.keys().current
        account = Account("13900004444")
        assert account.apply(**new_card_fields()).status_code == 201
        photo_before = CardApplication.objects.get().photo

        out = quiet("rotate_data_key", "--new-key", "--batch-size", "2", "--max-batches", "2")
        new_key = pii.keys().current
        assert new_key != old_key and "run the command again" in out
        names = stored_keys("accounts_holder", "name")
        assert 0 < names.count(new_key) < len(names) and old_key in names  # interrupted: both keys in use
        # Meanwhile the service reads rows under either key, and writes under the new one.
        assert {h.name for h in Holder.objects.filter(pk__in=[h.pk for h in holders])} == {
            f"测试{i}" for i in range(7)
        }
        assert app_holder.get("/api/v1/ecard").status_code == 200

        out = quiet("rotate_data_key")
        assert "every row is under the current key" in out
        for table, column in (
            ("accounts_holder", "name"),
            ("accounts_holder", "id_number"),
            ("accounts_holder", "phone"),
            ("accounts_user", "phone"),
        ):
            assert set(stored_keys(table, column)) <= {new_key, "", None}, (table, column)
        assert Holder.objects.get(pk=holders[0].pk).id_number == holders[0].id_number
        assert Holder.objects.get(id_number_index=holders[3].id_number).pk == holders[3].pk
        # The photo too: a new file under the new key, the old one gone.
        from django.core.files.storage import storages

        from ecard.photos import photo_open

        photo_after = CardApplication.objects.get().photo
        assert photo_after != photo_before and not storages["default"].exists(photo_before)
        with storages["default"].open(photo_after) as handle:
            assert pii.key_of(handle.read()) == new_key
        assert photo_open(photo_after)[:2] == b"\xff\xd8"  # a JPEG again once opened

    def test_the_print_key_option_changes_nothing_and_gives_a_usable_key_line(self, settings, holder):
        line = quiet("rotate_data_key", "--print-key").strip()
        kid, cipher, raw = line.split(":")
        assert pii.KEY_ID.fullmatch(kid) and cipher == "aes-256-gcm"
        assert pii.keys().current != kid
        settings.PII_DATA_KEYS = line
        assert pii.keys().current == kid  # the greatest id seals
        assert Holder.objects.get(pk=holder.pk).name == holder.name  # older keys still open


@pytest.mark.usefixtures("own_keys")
class TestNationalProfile:
    def test_the_national_profile_seals_with_sm4_gcm_and_indexes_with_hmac_sm3(
        self, settings, tmp_path, system
    ):
        from accounts.services import holder_get_or_create

        settings.PII_KEYS_DIR = tmp_path / "national"
        settings.CRYPTO_PROFILE = "national"
        keys = pii.keys()
        assert keys.data[keys.current][0] == "sm4-gcm" and keys.index[0] == "hmac-sm3"
        number = make_id_number(sequence=501)
        holder, _ = holder_get_or_create(name="国密", id_type="resident_id", id_number=number, by=system)
        assert number not in every_stored_text()
        assert Holder.objects.get(id_number_index=number).name == "国密"

    def test_an_aes_key_and_an_sm4_key_open_side_by_side_during_a_migration(self, settings, holder):
        settings.CRYPTO_PROFILE = "national"
        quiet("rotate_data_key", "--new-key", "--max-batches", "0")
        keys = pii.keys()
        assert keys.data[keys.current][0] == "sm4-gcm"
        assert set(stored_keys("accounts_holder", "name")) != {keys.current}  # still under AES
        assert Holder.objects.get(pk=holder.pk).name == holder.name
        quiet("rotate_data_key")
        assert set(stored_keys("accounts_holder", "name")) == {keys.current}
        assert Holder.objects.get(phone_index=holder.phone).name == holder.name
