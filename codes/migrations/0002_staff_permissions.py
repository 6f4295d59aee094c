"""Scanner and key permissions for the staff groups made in ecard.0002."""

from django.db import migrations

from ecard.migration_helpers import grant_permissions

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
    grant_permissions(apps, {group: [f"tokens.{c}" for c in codenames] for group, codenames in GRANTS.items()})


class Migration(migrations.Migration):
    dependencies = [("tokens", "0001_initial"), ("ecard", "0002_staff_groups")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
