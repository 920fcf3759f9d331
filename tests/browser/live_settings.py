"""Settings of the Daphne child process of the browser tests: the parent's test database file
and the Redis channel layer (both cross the process boundary)."""

from __future__ import annotations

import os

from fcmdash.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["FCMDASH_TEST_DB"]  # noqa: F405
CHANNEL_LAYERS = {
    "default": redis_channel_layer(  # noqa: F405
        os.environ["FCMDASH_TEST_REDIS_URL"], os.environ["FCMDASH_TEST_REDIS_PREFIX"]
    )
}
