from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=["clerk", "supervisor", "auditor"]):
        for codename in ("view_notice", "view_noticedelivery", "view_holderauthorisation"):
            group.permissions.add(Permission.objects.get(content_type__app_label="ecard", codename=codename))


class Migration(migrations.Migration):
    dependencies = [("ecard", "0004_noticedelivery_notice_delivered_at_and_more")]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
