"""Staff see card applications, payment providers and agreements; supervisors register,
disable and enable providers."""

from django.db import migrations

from ecard.migration_helpers import grant_permissions

VIEW = ["ecard.view_cardapplication", "ecard.view_paymentprovider", "ecard.view_paymentagreement"]
GROUPS = {
    "clerk": VIEW,
    "supervisor": VIEW + ["ecard.add_paymentprovider", "ecard.change_paymentprovider"],
    "auditor": VIEW,
}


def grant(apps, schema_editor):
    grant_permissions(apps, GROUPS)


class Migration(migrations.Migration):
    dependencies = [("ecard", "0009_card_applications")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
