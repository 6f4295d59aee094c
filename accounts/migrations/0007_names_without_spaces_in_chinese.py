"""Names were recorded with whatever spaces a clerk typed between Chinese characters (周 晓 梅),
which masked them as three one-character words, i.e. not at all; now they are recorded and
compared without (accounts.identity.normalise_name): the names on file follow."""

from django.db import migrations


def normalise(apps, schema_editor):
    from accounts.identity import normalise_name

    Holder = apps.get_model("accounts", "Holder")
    for holder in Holder.objects.only("pk", "name").iterator(chunk_size=2000):
        name = normalise_name(holder.name)
        if name != holder.name:
            Holder.objects.filter(pk=holder.pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_counter_journeys")]

    operations = [migrations.RunPython(normalise, migrations.RunPython.noop)]
