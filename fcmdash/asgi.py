"""The ASGI application: Django for HTTP, Channels consumers for WebSockets.

``monitor.routing`` (the WebSocket routes) may not exist yet; ``find_spec`` tells "absent" from
"broken", so an error inside an existing module still stops the start.
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fcmdash.settings")
# Sets Django up: must run before anything below imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from fcmdash.bodylimit import BodyLimitMiddleware, limit_daphne  # noqa: E402

# Served by Daphne (its server module loads before the application): limit what it buffers too.
if "daphne.server" in sys.modules:
    limit_daphne(settings.FCMDASH_MAX_BODY_BYTES)


def websocket_urlpatterns() -> list:
    """``monitor.routing.websocket_urlpatterns``, or [] while that module does not exist."""
    if find_spec("monitor.routing") is None:
        return []
    from monitor.routing import websocket_urlpatterns as patterns

    return patterns


application = ProtocolTypeRouter(
    {
        # Static files are WhiteNoise's, a middleware (settings.py).
        # Bodies over the limit are refused before Django reads them (fcmdash/bodylimit.py).
        "http": BodyLimitMiddleware(django_asgi_app, settings.FCMDASH_MAX_BODY_BYTES),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns()))
        ),
    }
)
