"""Staff groups: clerk operates cards, supervisor also cancels, auditor only reads."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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
    # Permissions are normally made after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


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
