"""The project's own app: it exists to connect the project-wide signal receivers at start."""

from __future__ import annotations

from django.apps import AppConfig


class FcmdashConfig(AppConfig):
    name = "fcmdash"
    verbose_name = "fcmdash"

    def ready(self) -> None:
        # Connects the lockout log line (axes' user_locked_out) before the first login.
        from fcmdash import lockout  # noqa: F401
