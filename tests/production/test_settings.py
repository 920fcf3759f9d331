"""The production bits of the settings: static files, the Redis prefix, the health age."""

from __future__ import annotations

import json

from fcmdash import settings
from tests.test_settings import run_python

STATIC = """
import json
from django.conf import settings as s
print(json.dumps({
    "storage": s.STORAGES["staticfiles"]["BACKEND"],
    "finders": s.WHITENOISE_USE_FINDERS,
    "whitenoise": "whitenoise.middleware.WhiteNoiseMiddleware" in s.MIDDLEWARE,
    "max_age": s.FCMDASH_HEALTH_MAX_AGE,
}))
"""


def static_settings(tmp_path, **env: str) -> dict:
    result = run_python(STATIC, tmp_path / "var", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_mode_serves_static_files_from_the_source_folders(tmp_path):
    assert static_settings(tmp_path) == {
        "storage": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "finders": True,
        "whitenoise": True,
        "max_age": 10,
    }


def test_production_serves_collectstatic_output_with_hashed_names(tmp_path):
    found = static_settings(
        tmp_path, DATABASE_URL="postgres://u:p@db.internal/fcmdash", FCMDASH_HEALTH_MAX_AGE="30"
    )
    assert found == {
        "storage": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "finders": False,
        "whitenoise": True,
        "max_age": 30,
    }


def test_a_web_server_in_front_may_serve_static_files_instead(tmp_path):
    assert static_settings(tmp_path, FCMDASH_SERVE_STATIC="false")["whitenoise"] is False


def test_a_health_age_below_two_seconds_is_refused(tmp_path):
    result = run_python("import fcmdash.settings", tmp_path / "var", FCMDASH_HEALTH_MAX_AGE="1")
    assert result.returncode != 0 and "FCMDASH_HEALTH_MAX_AGE" in result.stderr


def test_redis_prefix_defaults_to_fcmdash_and_can_be_set(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.delenv("FCMDASH_REDIS_PREFIX", raising=False)
    assert settings.channel_layer_config()["CONFIG"]["prefix"] == "fcmdash"
    monkeypatch.setenv("FCMDASH_REDIS_PREFIX", "wallboard-b")
    assert settings.channel_layer_config()["CONFIG"]["prefix"] == "wallboard-b"
