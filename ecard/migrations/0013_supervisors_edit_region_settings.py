"""Supervisors say which provinces issue third-generation cards; everyone on staff can see it."""

from django.db import migrations

from ecard.migration_helpers import grant_permissions

GROUPS = {
    "clerk": ["ecard.view_regionsetting"],
    "supervisor": ["ecard.view_regionsetting", "ecard.add_regionsetting", "ecard.change_regionsetting"],
    "auditor": ["ecard.view_regionsetting"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GROUPS)


class Migration(migrations.Migration):
    dependencies = [("ecard", "0012_region_settings")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
