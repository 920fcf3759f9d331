"""URLs of the monitor app, mounted at the site's root."""

from __future__ import annotations

from django.urls import path

from . import api
from .views import actions, export, kiosk, pages, today

app_name = "monitor"

urlpatterns = [
    path("", pages.wallboard, name="wallboard"),
    path("queues/<int:pk>/", pages.queue_detail, name="queue"),
    path("extensions/<int:pk>/", pages.extension_detail, name="extension"),
    path("calls/", pages.calls, name="calls"),
    path("originate/", pages.originate_form, name="originate"),
    path("kiosk/", kiosk.kiosk, name="kiosk"),
    path("kiosk/<str:token>/", kiosk.kiosk_link, name="kiosk_link"),
    path("actions/hangup/", actions.hangup, name="hangup"),
    path("actions/originate/", actions.originate, name="originate_action"),
    path("actions/pause/", actions.pause, name="pause"),
    path("today/", today.today, name="today"),
    path("today/queues.csv", export.queues_csv, name="today_queues_csv"),
    path("today/agents.csv", export.agents_csv, name="today_agents_csv"),
    path("today/calls.csv", export.calls_csv, name="today_calls_csv"),
    path("agents/", today.agents, name="agents"),
    path("api/v1/state", api.state, name="api_state"),
    path("api/v1/today", api.today, name="api_today"),
]
