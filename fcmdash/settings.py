"""fcmdash settings, read from environment variables.

Rules:

- Every value comes from the environment. Unset and empty mean the same: the default.
- The defaults are the *embedded* mode: SQLite and generated keys in the var dir, an in-process
  channel layer, no other service to run. ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``
  switch to the services that several processes need.
- A value that cannot be used stops the process with ``ImproperlyConfigured`` naming the
  variable. Values that may hold a password (URLs, keys) are never echoed.
- Keys generated in embedded mode are written once, mode 0600, and reused on every start.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
REDIS_SOCKET_TIMEOUT = 15.0  # seconds; see redis_channel_layer
AMI_SCHEMES = ("ami", "amis")
AMI_URL_FORM = "ami://user:secret@host:7777 or amis://user:secret@host:5039"


def env(name: str, default: str = "") -> str:
    """The variable's value with surrounding blanks removed; ``default`` if unset or empty."""
    return os.environ.get(name, "").strip() or default


def envbool(name: str, default: bool) -> bool:
    """true/false, 1/0, yes/no or on/off, in any case. Raises ImproperlyConfigured otherwise."""
    value = env(name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use true or false")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    """A decimal integer, at least ``minimum``. Raises ImproperlyConfigured otherwise."""
    value = env(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}")
    return number


def envlist(name: str, default: str = "") -> list[str]:
    """Comma-separated items, blanks around them and empty items dropped."""
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def envchoice(name: str, default: str, choices: Collection[str]) -> str:
    """One of ``choices``, compared in upper case. Raises ImproperlyConfigured otherwise."""
    value = env(name, default).upper()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def envurl(name: str, schemes: Collection[str]) -> str:
    """A URL with one of ``schemes``, or "" if unset. Raises ImproperlyConfigured otherwise.

    The value is left out of the error: these URLs carry passwords.
    """
    value = env(name)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ImproperlyConfigured(f"{name} is not a valid URL") from None
    if parts.scheme.lower() not in schemes:
        raise ImproperlyConfigured(f"{name} must start with {' or '.join(schemes)}://")
    return value


def envorigins(name: str) -> list[str]:
    """Comma-separated origins such as ``https://wallboard.example.com``."""
    origins = envlist(name)
    for origin in origins:
        if not re.match(r"https?://[^/]+$", origin):
            raise ImproperlyConfigured(
                f"{name}: {origin!r} is not an origin like https://host[:port]"
            )
    return origins


def envsecret(name: str, path: Path, generate: Callable[[], str]) -> str:
    """The variable's value, else the secret kept in ``path`` (generated on first use)."""
    return env(name) or read_or_create_secret(path, generate)


def read_or_create_secret(path: Path, generate: Callable[[], str]) -> str:
    """The secret stored in ``path``; stores ``generate()`` there (mode 0600) if it is missing.

    Raises ImproperlyConfigured when the file is empty or readable by group or others.
    """
    if not path.exists():
        _store_new_secret(path, generate())
    if path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(f"{path} is readable by other users: chmod 600 {path}")
    secret = path.read_text().strip()
    if not secret:
        raise ImproperlyConfigured(f"{path} is empty: restore it, or delete it to get a new one")
    return secret


def _store_new_secret(path: Path, secret: str) -> None:
    # A private temporary file linked into place: a process starting at the same moment sees no
    # file or a complete one, and both end up with the secret that got there first.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def fernet_keys(name: str, path: Path) -> list[str]:
    """Fernet keys from ``name`` (comma separated), else from ``path`` (generated on first use).

    The first key encrypts and every key decrypts (``MultiFernet``): to rotate, put the new key
    first and keep the old ones until the stored secrets are re-encrypted.
    """
    raw = envsecret(name, path, lambda: Fernet.generate_key().decode())
    keys = [key for key in re.split(r"[\s,]+", raw) if key]
    source = name if env(name) else str(path)
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"{source}: key #{number} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


def ami_url(name: str) -> str:
    """The PBX to watch instead of the built-in simulator, or "" when unset."""
    url = envurl(name, AMI_SCHEMES)
    if url:
        parts = urlsplit(url)
        if not (parts.hostname and parts.username and parts.password):
            raise ImproperlyConfigured(f"{name} must look like {AMI_URL_FORM}")
    return url


def database_config(var_dir: Path) -> dict[str, Any]:
    """PostgreSQL from ``DATABASE_URL``; else SQLite in ``var_dir`` (embedded mode)."""
    url = envurl("DATABASE_URL", POSTGRES_SCHEMES)
    if url:
        # Under ASGI every request may run in another thread; keep 0 (Django's default) unless
        # the processes are few and long-lived, like the AMI worker.
        max_age = envint("FCMDASH_DB_CONN_MAX_AGE", 0, minimum=0)
        return dj_database_url.parse(url, conn_max_age=max_age, conn_health_checks=True)
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": var_dir / "fcmdash.sqlite3",
        "OPTIONS": {
            # The worker writes while pages read: WAL lets readers go on during a write, and
            # IMMEDIATE takes the write lock at BEGIN, so a second writer waits (up to
            # `timeout` seconds) instead of failing with "database is locked" mid-transaction.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # A file, not :memory:: a live-server test runs Daphne in another process that must see
        # the same database (channels' ChannelsLiveServerTestCase refuses :memory:).
        "TEST": {"NAME": var_dir / "test.sqlite3"},
    }


def redis_channel_layer(url: str, prefix: str) -> dict[str, Any]:
    """The Redis channel layer at ``url``, its keys under ``prefix``."""
    # A receive() waits in BZPOPMIN for up to 5 s; redis-py 8 gives up reading after 5 s by
    # default, so every idle consumer failed with "Timeout reading" and its WebSocket closed
    # (channels_redis#422). Longer than the pop, yet still finite for a dead connection.
    host = {"address": url, "socket_timeout": REDIS_SOCKET_TIMEOUT}
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [host], "prefix": prefix},
    }


def channel_layer_config() -> dict[str, Any]:
    """Redis from ``REDIS_URL``; else the in-memory layer (embedded mode)."""
    url = envurl("REDIS_URL", REDIS_SCHEMES)
    if url:
        # The prefix keeps two installations (or test runs) on one Redis apart.
        return redis_channel_layer(url, env("FCMDASH_REDIS_PREFIX", "fcmdash"))
    # Reaches only consumers in this process: the embedded `serve` runs the web server, the AMI
    # worker and the simulator in one process for that reason.
    return {"BACKEND": "channels.layers.InMemoryChannelLayer"}


# fcmdash's own settings have the name of their variable: settings.FCMDASH_AMI_URL and so on.
BASE_DIR = Path(__file__).resolve().parent.parent
# Files that belong to this installation, not to the repository: SQLite, keys, collected static.
FCMDASH_VAR_DIR = Path(env("FCMDASH_VAR_DIR", str(BASE_DIR / "var"))).expanduser().resolve()

SECRET_KEY = envsecret("FCMDASH_SECRET_KEY", FCMDASH_VAR_DIR / "secret_key", get_random_secret_key)
DEBUG = envbool("FCMDASH_DEBUG", False)
ALLOWED_HOSTS = envlist("FCMDASH_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envorigins("FCMDASH_CSRF_TRUSTED_ORIGINS")

# Keys for the AMI secrets stored in the database (see fernet_keys).
FCMDASH_ENCRYPTION_KEYS = fernet_keys("FCMDASH_ENCRYPTION_KEYS", FCMDASH_VAR_DIR / "encryption_key")
# A real PBX for `serve` instead of its simulator; "" means the simulator.
FCMDASH_AMI_URL = ami_url("FCMDASH_AMI_URL")
# Static files through the ASGI application, for a single process with nothing in front of it.
# Turn it off behind a web server that serves STATIC_ROOT (after `collectstatic`).
FCMDASH_SERVE_STATIC = envbool("FCMDASH_SERVE_STATIC", True)
# Served over HTTPS, directly or by a proxy that sets X-Forwarded-Proto: secure cookies.
FCMDASH_HTTPS = envbool("FCMDASH_HTTPS", False)
# Largest HTTP request body taken, in bytes (fcmdash/bodylimit.py; 0: no limit). Refused with
# 413 before it is read, which DATA_UPLOAD_MAX_MEMORY_SIZE (checked after reading) cannot do.
FCMDASH_MAX_BODY_BYTES = envint("FCMDASH_MAX_BODY_BYTES", 1024 * 1024, minimum=0)
FCMDASH_LOG_LEVEL = envchoice("FCMDASH_LOG_LEVEL", "INFO", LOG_LEVELS)
# /healthz fails a PBX whose worker has not reported for this many seconds (it reports about
# once a second): a killed worker leaves its PBX marked connected.
FCMDASH_HEALTH_MAX_AGE = envint("FCMDASH_HEALTH_MAX_AGE", 10, minimum=2)
# Characters a second a wallboard's or kiosk's socket may take on average (monitor/outbox.py);
# 0: no budget. A busy PBX's boards then batch their changes instead of taking more.
FCMDASH_BOARD_RATE = envint("FCMDASH_BOARD_RATE", 40_000, minimum=0)

INSTALLED_APPS = [
    # First, so that `runserver` is Daphne's ASGI server.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "monitor.apps.MonitorConfig",
    # Failed-login lockouts; its admin is where an administrator unlocks.
    "axes",
    "fcmdash.apps.FcmdashConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fcmdash.headers.ContentSecurityPolicyMiddleware",
    # Static files (FCMDASH_SERVE_STATIC), before the session and the login get involved.
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if FCMDASH_SERVE_STATIC else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as axes requires: turns a lockout into fcmdash.lockout's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fcmdash.urls"
ASGI_APPLICATION = "fcmdash.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    # The tile partials only (monitor/jinja2/): see monitor/jinja.py for why.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "tiles",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "monitor.jinja.environment"},
    },
]

DATABASES = {"default": database_config(FCMDASH_VAR_DIR)}
CHANNEL_LAYERS = {"default": channel_layer_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute-force protection (django-axes; fcmdash/lockout.py): 5 failures of one user name from one
# address lock that pair out for 15 minutes; another user or address is not affected. Attempts
# during a lockout do not extend it. The first backend refuses a locked pair before passwords
# are checked; force_login (tests, the demo) does not authenticate and is not affected.
AUTHENTICATION_BACKENDS = [
    "fcmdash.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "fcmdash.lockout.locked_out"
# Axes logs every failure; fcmdash.lockout logs each lockout once instead.
AXES_VERBOSE = False
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

SESSION_COOKIE_HTTPONLY = True
# htmx sends the token from the page (hx-headers in base.html), so no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = FCMDASH_HTTPS
CSRF_COOKIE_SECURE = FCMDASH_HTTPS
if FCMDASH_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin: a kiosk page's URL (its token) never leaves in the Referer of what the page loads
# from elsewhere; our own static files and favicon still get it, so nginx logs no Referer there
# (deploy/nginx.conf).
SECURE_REFERRER_POLICY = "same-origin"
# Browsers keep to HTTPS for a year once they have seen it (sent on HTTPS requests only).
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if FCMDASH_HTTPS else 0
# fcmdash/headers.py: our own origin only, nothing inline, no framing.
FCMDASH_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("FCMDASH_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = FCMDASH_VAR_DIR / "static"
# WhiteNoise serves /static/. In production (a PostgreSQL DATABASE_URL) it serves what
# `collectstatic` wrote to STATIC_ROOT: names with a content hash, compressed copies, cached by
# browsers for a year. The embedded mode reads the source folders on each request instead, so
# that `make run` needs no collectstatic and an edited file shows at the next reload.
_COLLECTED_STATIC = DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _COLLECTED_STATIC
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not _COLLECTED_STATIC
WHITENOISE_AUTOREFRESH = not _COLLECTED_STATIC
# WhiteNoise hands Django a plain file; under ASGI Django reads it in a thread and warns that it
# did, once per process. Harmless for files this small.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "fcmdash.logs.LineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "stdout": {"class": "fcmdash.logs.StdoutHandler", "formatter": "line"},
    },
    "root": {"handlers": ["stdout"], "level": FCMDASH_LOG_LEVEL},
    "loggers": {
        # Django's defaults give these their own stderr handlers; send them to the root's.
        # DEBUG here would print every SQL query.
        "django": {"handlers": [], "level": max(FCMDASH_LOG_LEVEL, "INFO", key=LOG_LEVELS.index)},
        "django.server": {"handlers": [], "propagate": True},
        "axes": {"handlers": [], "level": "ERROR"},
    },
}
