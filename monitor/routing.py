"""WebSocket routes (``fcmdash/asgi.py`` puts them behind the origin check and the session)."""

from __future__ import annotations

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/live/", consumers.LiveConsumer.as_asgi()),
    path("ws/kiosk/<str:token>/", consumers.KioskConsumer.as_asgi()),
]
