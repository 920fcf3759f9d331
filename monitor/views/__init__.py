"""The monitor app's views: pages (wallboard, details, calls), kiosk, supervisor actions."""

from __future__ import annotations
