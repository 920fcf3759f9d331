"""The groups "Supervisors" (view and every action) and "Viewers" (view only).

Permissions are normally created after all migrations (post_migrate); they are created here
first so that the groups can be given them on a fresh database.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Supervisors": ("view_wallboard", "hangup", "originate", "pause_member"),
    "Viewers": ("view_wallboard",),
}


def add_groups(apps, schema_editor):
    app_config = apps.get_app_config("monitor")
    app_config.models_module = True  # create_permissions skips apps without models
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="monitor", codename__in=codenames)
        group.permissions.add(*perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("monitor", "0002_web_models"),
    ]

    operations = [migrations.RunPython(add_groups, remove_groups)]
