"""The fcmdash Django project: settings, ASGI application and URL configuration."""

from __future__ import annotations
