"""Helpers shared by the command modules (light imports only)."""

from __future__ import annotations

import sys

from vocaltools.errors import VocaltoolsError


class NotAvailableError(VocaltoolsError):
    """A command that a later release provides."""


def not_available(command: str) -> None:
    raise NotAvailableError(f"'vocaltools {command}' is not available yet in this version")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
