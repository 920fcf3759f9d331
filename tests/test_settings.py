"""The env helpers, the embedded / PostgreSQL / Redis modes, and the settings as loaded."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from fcmdash import settings
from fcmdash.logs import LineFormatter

REPO_DIR = Path(__file__).resolve().parent.parent
NAME = "FCMDASH_TEST_VALUE"


# --- env helpers ---------------------------------------------------------------------------


def test_unset_and_blank_variables_give_the_default(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert settings.env(NAME, "dflt") == "dflt"
    monkeypatch.setenv(NAME, "   ")
    assert settings.env(NAME, "dflt") == "dflt"
    monkeypatch.setenv(NAME, "  value ")
    assert settings.env(NAME, "dflt") == "value"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("ON", True)]
    + [("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_envbool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv(NAME, raw)
    assert settings.envbool(NAME, not expected) is expected


def test_envbool_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert settings.envbool(NAME, True) is True
    assert settings.envbool(NAME, False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "t"])
def test_envbool_refuses_anything_else_and_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)
    with pytest.raises(ImproperlyConfigured, match=NAME):
        settings.envbool(NAME, False)


def test_envint_parses_and_enforces_the_minimum(monkeypatch):
    monkeypatch.setenv(NAME, " 42 ")
    assert settings.envint(NAME, 7, minimum=0) == 42
    monkeypatch.delenv(NAME)
    assert settings.envint(NAME, 7) == 7
    monkeypatch.setenv(NAME, "-1")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        settings.envint(NAME, 7, minimum=0)
    monkeypatch.setenv(NAME, "4.5")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        settings.envint(NAME, 7)


def test_envlist_drops_blanks_and_empty_items(monkeypatch):
    monkeypatch.setenv(NAME, " a.example , ,b.example,,")
    assert settings.envlist(NAME, "x") == ["a.example", "b.example"]
    monkeypatch.delenv(NAME)
    assert settings.envlist(NAME, "127.0.0.1,[::1]") == ["127.0.0.1", "[::1]"]


_ITEM = st.text(
    alphabet=st.characters(blacklist_characters=",\x00", blacklist_categories=("Cs",)), min_size=1
).filter(lambda item: item.strip())


@given(st.lists(_ITEM, max_size=5))
def test_envlist_returns_the_comma_separated_items_stripped(items):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NAME, ",".join(items))
        assert settings.envlist(NAME) == [item.strip() for item in items]


def test_log_level_is_upper_cased_and_checked(monkeypatch):
    monkeypatch.setenv(NAME, "debug")
    assert settings.envchoice(NAME, "INFO", settings.LOG_LEVELS) == "DEBUG"
    monkeypatch.setenv(NAME, "verbose")
    with pytest.raises(ImproperlyConfigured, match="use one of DEBUG, INFO"):
        settings.envchoice(NAME, "INFO", settings.LOG_LEVELS)


def test_envurl_checks_the_scheme_without_echoing_the_url(monkeypatch):
    monkeypatch.setenv(NAME, "mysql://app:hunter22@db.example/app")
    with pytest.raises(ImproperlyConfigured) as excinfo:
        settings.envurl(NAME, settings.POSTGRES_SCHEMES)
    assert NAME in str(excinfo.value)
    assert "hunter22" not in str(excinfo.value)


def test_envurl_refuses_a_port_that_is_not_a_number(monkeypatch):
    monkeypatch.setenv(NAME, "redis://:hunter22@127.0.0.1:six/0")
    with pytest.raises(ImproperlyConfigured, match="not a valid URL") as excinfo:
        settings.envurl(NAME, settings.REDIS_SCHEMES)
    assert "hunter22" not in str(excinfo.value)


def test_csrf_trusted_origins_need_a_scheme(monkeypatch):
    monkeypatch.setenv(NAME, "https://wall.example.com, http://10.0.0.5:8000")
    assert settings.envorigins(NAME) == ["https://wall.example.com", "http://10.0.0.5:8000"]
    monkeypatch.setenv(NAME, "wall.example.com")
    with pytest.raises(ImproperlyConfigured, match="not an origin"):
        settings.envorigins(NAME)


# --- secrets and keys ----------------------------------------------------------------------


def test_a_missing_secret_is_generated_once_and_kept_private(tmp_path):
    path = tmp_path / "var" / "secret_key"
    calls = []

    def generate():
        calls.append(1)
        return "s3cr3t-value"

    assert settings.read_or_create_secret(path, generate) == "s3cr3t-value"
    assert settings.read_or_create_secret(path, generate) == "s3cr3t-value"
    assert len(calls) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary file left


def test_a_secret_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("value\n")
    path.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        settings.read_or_create_secret(path, lambda: "new")


def test_an_empty_secret_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("\n")
    path.chmod(0o600)
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        settings.read_or_create_secret(path, lambda: "new")
    assert path.read_text() == "\n"


def test_a_secret_from_the_environment_leaves_the_var_dir_alone(monkeypatch, tmp_path):
    monkeypatch.setenv(NAME, "from-env")
    path = tmp_path / "var" / "secret_key"
    assert settings.envsecret(NAME, path, lambda: "generated") == "from-env"
    assert not path.parent.exists()


def test_the_first_encryption_key_encrypts_and_all_decrypt(monkeypatch, tmp_path):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv(NAME, f"{new.decode()}, {old.decode()}")
    keys = settings.fernet_keys(NAME, tmp_path / "encryption_key")
    assert keys == [new.decode(), old.decode()]
    multi = MultiFernet([Fernet(key) for key in keys])
    assert multi.decrypt(Fernet(old).encrypt(b"ami-secret")) == b"ami-secret"
    assert Fernet(new).decrypt(multi.encrypt(b"ami-secret")) == b"ami-secret"
    assert not (tmp_path / "encryption_key").exists()


def test_an_encryption_key_is_generated_into_the_var_dir_when_none_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv(NAME, raising=False)
    path = tmp_path / "encryption_key"
    keys = settings.fernet_keys(NAME, path)
    assert len(keys) == 1
    Fernet(keys[0])
    assert path.read_text().strip() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.fernet_keys(NAME, path) == keys


def test_a_malformed_encryption_key_is_refused_without_echoing_it(monkeypatch, tmp_path):
    good = Fernet.generate_key().decode()
    monkeypatch.setenv(NAME, f"{good},not-a-real-key-zzzz")
    with pytest.raises(ImproperlyConfigured, match="key #2 is not a Fernet key") as excinfo:
        settings.fernet_keys(NAME, tmp_path / "encryption_key")
    assert "not-a-real-key-zzzz" not in str(excinfo.value)


@pytest.mark.parametrize(
    "url", ["ami://wallboard1:Pa55word@192.0.2.10:7777", "amis://wallboard1:Pa55word@pbx.lan:5039"]
)
def test_an_ami_url_with_user_secret_and_host_is_accepted(monkeypatch, url):
    monkeypatch.setenv(NAME, url)
    assert settings.ami_url(NAME) == url


@pytest.mark.parametrize(
    "url",
    [
        "ami://wallboard1@192.0.2.10:7777",  # no secret
        "ami://wallboard1:Pa55word@:7777",  # no host
        "http://wallboard1:Pa55word@192.0.2.10:7777",  # wrong scheme
        "ami://wallboard1:Pa55word@192.0.2.10:77x7",  # bad port
    ],
)
def test_a_malformed_ami_url_is_refused_without_echoing_the_secret(monkeypatch, url):
    monkeypatch.setenv(NAME, url)
    with pytest.raises(ImproperlyConfigured, match=NAME) as excinfo:
        settings.ami_url(NAME)
    assert "Pa55word" not in str(excinfo.value)


def test_no_ami_url_means_the_simulator(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert settings.ami_url(NAME) == ""


# --- modes ---------------------------------------------------------------------------------


def test_embedded_database_is_sqlite_in_the_var_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    var = tmp_path / "var"
    config = settings.database_config(var)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == var / "fcmdash.sqlite3"
    assert config["TEST"]["NAME"] == var / "test.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert var.is_dir()


def test_database_url_switches_to_postgresql(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://fcm:pw@db.internal:6543/fcmdash")
    monkeypatch.setenv("FCMDASH_DB_CONN_MAX_AGE", "60")
    config = settings.database_config(tmp_path / "var")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 6543, "fcmdash")
    assert (config["USER"], config["PASSWORD"]) == ("fcm", "pw")
    assert config["CONN_MAX_AGE"] == 60
    assert not (tmp_path / "var").exists()


def test_database_url_for_another_database_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "mysql://fcm:pw@db.internal/fcmdash")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with postgres"):
        settings.database_config(tmp_path)


def test_embedded_channel_layer_is_in_memory(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert settings.channel_layer_config() == {"BACKEND": "channels.layers.InMemoryChannelLayer"}


def test_redis_url_switches_to_the_redis_channel_layer(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:pw@cache.internal:6379/2")
    config = settings.channel_layer_config()
    assert config["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    [host] = config["CONFIG"]["hosts"]
    assert host["address"] == "redis://:pw@cache.internal:6379/2"
    # Longer than channels_redis's blocking pop (5 s): redis-py 8's default of 5 s is not.
    assert host["socket_timeout"] > 5


def test_redis_url_with_another_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://cache.internal:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        settings.channel_layer_config()


# --- the settings this session runs with ---------------------------------------------------


def test_the_test_session_runs_embedded_in_its_own_var_dir(var_dir):
    assert var_dir != REPO_DIR / "var"
    assert var_dir.resolve() == django_settings.FCMDASH_VAR_DIR
    assert django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(django_settings.DATABASES["default"]["NAME"]).parent == var_dir.resolve()
    assert django_settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")
    assert (var_dir / "secret_key").read_text().strip() == django_settings.SECRET_KEY
    assert django_settings.FCMDASH_AMI_URL == ""


def test_the_defaults_are_safe():
    assert django_settings.DEBUG is False
    assert django_settings.ALLOWED_HOSTS[:3] == ["127.0.0.1", "localhost", "[::1]"]
    assert django_settings.SESSION_COOKIE_HTTPONLY is True
    assert django_settings.CSRF_COOKIE_HTTPONLY is True
    assert django_settings.X_FRAME_OPTIONS == "DENY"
    assert django_settings.INSTALLED_APPS[0] == "daphne"
    assert "django_htmx.middleware.HtmxMiddleware" in django_settings.MIDDLEWARE
    assert django_settings.LOGIN_URL == reverse("login") == "/accounts/login/"
    assert reverse("logout") == "/accounts/logout/"


def test_the_asgi_application_routes_http_and_websockets():
    from fcmdash import asgi

    assert set(asgi.application.application_mapping) == {"http", "websocket"}


def test_websocket_routes_are_empty_until_monitor_routing_exists(monkeypatch):
    from fcmdash import asgi

    monkeypatch.setattr(asgi, "find_spec", lambda name: None)
    assert asgi.websocket_urlpatterns() == []


def test_log_records_are_one_line_and_never_show_a_secret():
    formatter = LineFormatter("%(levelname)s %(name)s %(message)s")
    try:
        raise ConnectionError("login refused\nSecret: Pa55word")
    except ConnectionError:
        record = logging.LogRecord(
            "monitor.ami",
            logging.ERROR,
            __file__,
            1,
            "connect %s failed",
            ("amis://wallboard1:Pa55word@192.0.2.10:5039",),
            sys.exc_info(),
        )
    line = formatter.format(record)
    assert "\n" not in line
    assert "Pa55word" not in line
    assert "amis://wallboard1:***@192.0.2.10:5039" in line
    assert "Secret: ***" in line
    assert "Traceback" in line


# --- the whole settings module in a fresh process ------------------------------------------


def run_python(code: str, var: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a new interpreter with only ``env`` and FCMDASH_VAR_DIR=``var`` set."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FCMDASH_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    full_env = {**clean, "DJANGO_SETTINGS_MODULE": "fcmdash.settings"}
    full_env.update(FCMDASH_VAR_DIR=str(var), **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_DIR,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


SUMMARY = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "secret_key": s.SECRET_KEY,
    "keys": s.FCMDASH_ENCRYPTION_KEYS,
    "db": str(s.DATABASES["default"]["NAME"]),
    "layer": s.CHANNEL_LAYERS["default"]["BACKEND"],
}))
"""


def test_a_fresh_var_dir_gets_its_keys_once_and_migrates(tmp_path):
    var = tmp_path / "var"
    first = run_python(SUMMARY, var)
    assert first.returncode == 0, first.stderr
    second = run_python(SUMMARY, var)
    assert json.loads(first.stdout) == json.loads(second.stdout)
    summary = json.loads(first.stdout)
    assert summary["db"] == str(var / "fcmdash.sqlite3")
    assert summary["layer"] == "channels.layers.InMemoryChannelLayer"
    assert len(summary["secret_key"]) >= 50
    for name in ("secret_key", "encryption_key"):
        assert stat.S_IMODE((var / name).stat().st_mode) == 0o600

    migrate = run_python(
        "from django.core.management import call_command; import django; django.setup();"
        " call_command('migrate', verbosity=0)",
        var,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert (var / "fcmdash.sqlite3").stat().st_size > 0


def test_a_bad_variable_stops_the_start_and_names_the_variable(tmp_path):
    result = run_python("import fcmdash.settings", tmp_path / "var", FCMDASH_DEBUG="maybe")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "FCMDASH_DEBUG" in result.stderr


def test_postgresql_mode_connects(tmp_path, postgres_url):
    code = (
        "import django; django.setup(); from django.db import connection;"
        " connection.ensure_connection(); print(connection.vendor)"
    )
    result = run_python(code, tmp_path / "var", DATABASE_URL=postgres_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgresql"
    assert not (tmp_path / "var" / "fcmdash.sqlite3").exists()


REDIS_ROUND_TRIP = """
import asyncio, django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("pbx.test", channel)
    await layer.group_send("pbx.test", {"type": "tiles.update", "html": "<p>ok</p>"})
    message = await asyncio.wait_for(layer.receive(channel), 10)
    await layer.group_discard("pbx.test", channel)
    print(type(layer).__name__, message["html"])

asyncio.run(main())
"""


def test_redis_mode_carries_a_group_message(tmp_path, redis_url):
    result = run_python(REDIS_ROUND_TRIP, tmp_path / "var", REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RedisChannelLayer", "<p>ok</p>"]
