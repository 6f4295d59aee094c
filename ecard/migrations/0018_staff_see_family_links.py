"""Staff see family links (亲情账户); clerks and supervisors record a member's consent at the
outlet or end a link at the member's request (with ecard.operate_card, which they hold)."""

from django.db import migrations

from ecard.migration_helpers import grant_permissions

GROUPS = {name: ["ecard.view_familylink"] for name in ("clerk", "supervisor", "auditor")}


def grant(apps, schema_editor):
    grant_permissions(apps, GROUPS)


class Migration(migrations.Migration):
    dependencies = [("ecard", "0017_family_links")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
