"""One person, one holder: a key that is the citizen number whatever the document label.

Existing holders get their key; if two of them turn out to be one person (the same citizen
number entered once as a resident ID card and once as a household register), the migration
stops and names them: merging two holders' cards, e-cards and audit trails is staff's call.
"""

from django.db import migrations, models

# As accounts.identity.person_key is today; frozen here, as a migration must be.
CITIZEN_NUMBER_DOCUMENTS = {
    "resident_id",
    "household_register",
    "hk_mo_tw_residence_permit",
    "foreign_permanent_residence",
}


def key_of(id_type: str, number: str) -> str:
    if id_type in CITIZEN_NUMBER_DOCUMENTS and len(number) == 18:
        return f"cn:{number}"
    return f"{id_type}:{number}"


def fill_person_keys(apps, schema_editor):
    Holder = apps.get_model("accounts", "Holder")
    first: dict[str, int] = {}
    duplicates: list[tuple[int, int, str]] = []
    batch = []
    for holder in Holder.objects.order_by("pk").only("pk", "id_type", "id_number").iterator(chunk_size=2000):
        holder.person_key = key_of(holder.id_type, holder.id_number)
        if holder.person_key in first:
            duplicates.append((first[holder.person_key], holder.pk, holder.id_number))
            holder.person_key = None  # left empty; the migration fails below anyway
        else:
            first[holder.person_key] = holder.pk
        batch.append(holder)
        if len(batch) >= 2000:
            Holder.objects.bulk_update(batch, ["person_key"])
            batch = []
    Holder.objects.bulk_update(batch, ["person_key"])
    if duplicates:
        lines = "\n".join(
            f"  holders #{a} and #{b}: one person, ID number {number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"
            for a, b, number in duplicates
        )
        raise RuntimeError(
            f"{len(duplicates)} holder(s) are recorded twice under different document labels; merge "
            f"them (cards, e-cards, accounts) before migrating:\n{lines}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_sessions_and_public_ids"),
    ]

    operations = [
        migrations.AddField(
            model_name="holder",
            name="person_key",
            field=models.CharField(editable=False, max_length=48, null=True),
        ),
        migrations.RunPython(fill_person_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="holder",
            name="person_key",
            field=models.CharField(editable=False, max_length=48, unique=True),
        ),
    ]
