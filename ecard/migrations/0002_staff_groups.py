"""Staff groups: clerk operates cards, supervisor also cancels, auditor only reads."""

from django.db import migrations

from ecard.migration_helpers import grant_permissions

VIEW = [
    "accounts.view_holder",
    "ecard.view_card",
    "ecard.view_ecard",
    "ecard.view_auditevent",
    "ecard.view_calendaryear",
    "ecard.view_calendarday",
]
CLERK = VIEW + [
    "accounts.change_holder",
    "accounts.view_full_id_number",
    "ecard.operate_card",
    "ecard.add_calendaryear",
    "ecard.change_calendaryear",
    "ecard.add_calendarday",
    "ecard.change_calendarday",
    "ecard.delete_calendarday",
]
GROUPS = {
    "clerk": CLERK,
    "supervisor": CLERK + ["ecard.cancel_card"],
    "auditor": VIEW,
}


def create_groups(apps, schema_editor):
    grant_permissions(apps, GROUPS)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ecard", "0001_initial"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
