"""Scanner and key permissions for the staff groups made in ecard.0002."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "clerk": ["view_scannerdevice", "view_scanrecord"],
    "supervisor": [
        "view_scannerdevice",
        "add_scannerdevice",
        "change_scannerdevice",
        "view_signingkey",
        "add_signingkey",
        "view_scanrecord",
        "view_revocation",
    ],
    "auditor": ["view_scannerdevice", "view_signingkey", "view_scanrecord", "view_revocation"],
}


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.get(name=name)
        for codename in codenames:
            group.permissions.add(Permission.objects.get(content_type__app_label="tokens", codename=codename))


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial"), ("ecard", "0002_staff_groups")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
