"""Admin registrations for the monitor models (none yet: the models come later)."""

from __future__ import annotations
