"""URLs: the admin, login/logout, the health check and metrics, and the monitor app at the
root once it has URLs."""

from __future__ import annotations

from importlib.util import find_spec

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from monitor import health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # For probes and Prometheus, outside the login: see their modules for what they reveal.
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
]

# find_spec, not try/except ImportError: a missing module is fine, a broken one must fail.
if find_spec("monitor.urls") is not None:
    urlpatterns.append(path("", include("monitor.urls")))
