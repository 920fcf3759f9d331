"""The PBX simulator: an AMI server on 127.0.0.1 that behaves like the lab's Asterisk 22 or
the customer's FCM630A. See ``server.PbxSimulator`` for the in-process API and ``cli`` for
``python -m monitor.sim`` / ``manage.py pbxsim``.
"""

from __future__ import annotations
