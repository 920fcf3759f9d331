"""The monitor app: the PBX mirror, its AMI worker and the wallboard pages."""

from __future__ import annotations

from django.apps import AppConfig


class MonitorConfig(AppConfig):
    name = "monitor"
    label = "monitor"
    verbose_name = "PBX monitor"
    default_auto_field = "django.db.models.BigAutoField"
