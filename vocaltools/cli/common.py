"""Helpers shared by the command modules (light imports only)."""

from __future__ import annotations

import sys


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
