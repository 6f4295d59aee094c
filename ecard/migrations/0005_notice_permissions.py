from django.db import migrations

from ecard.migration_helpers import grant_permissions

VIEW = ["ecard.view_notice", "ecard.view_noticedelivery", "ecard.view_holderauthorisation"]


def grant(apps, schema_editor):
    grant_permissions(apps, {"clerk": VIEW, "supervisor": VIEW, "auditor": VIEW})


class Migration(migrations.Migration):
    dependencies = [("ecard", "0004_noticedelivery_notice_delivered_at_and_more")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
