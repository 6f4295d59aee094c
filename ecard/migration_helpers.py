"""Used by data migrations; keep it stable, since old migrations import it."""

from django.contrib.auth.management import create_permissions


def grant_permissions(apps, grants: dict[str, list[str]]) -> None:
    """Give each staff group (made if missing) its ``app_label.codename`` permissions."""
    # Permissions are normally made after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in grants.items():
        group, _ = Group.objects.get_or_create(name=name)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
