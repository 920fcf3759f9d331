"""Points the test session at a throw-away var dir before Django's settings are loaded.

pytest-django imports ``fcmdash.settings`` while pytest starts, before any ``conftest.py`` is
read, and the settings create the SQLite file and the keys in the var dir. So this runs as a
plugin named in ``addopts`` (``-p fcmdash.pytest_plugin``), whose ``tryfirst`` hook comes first.

It also removes the variables that would point the tests at real data or a real PBX:
``DATABASE_URL``, ``REDIS_URL`` and every ``FCMDASH_*`` except ``FCMDASH_TEST_*``. Tests that
need PostgreSQL or Redis ask for the ``postgres_url`` / ``redis_url`` fixtures instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile

import pytest

KEPT_PREFIX = "FCMDASH_TEST_"


def _points_elsewhere(name: str) -> bool:
    if name in ("DATABASE_URL", "REDIS_URL"):
        return True
    return name.startswith("FCMDASH_") and not name.startswith(KEPT_PREFIX)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    for name in [name for name in os.environ if _points_elsewhere(name)]:
        del os.environ[name]
    var_dir = tempfile.mkdtemp(prefix="fcmdash-test-")
    os.environ["FCMDASH_VAR_DIR"] = var_dir
    early_config.add_cleanup(functools.partial(shutil.rmtree, var_dir, ignore_errors=True))
