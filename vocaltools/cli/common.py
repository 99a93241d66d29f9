"""Helpers shared by the command modules (light imports only)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import typer


def field_default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``cls``: a flag's default read from the
    config it maps onto, so that the two cannot drift apart."""
    for field in dataclasses.fields(cls):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            break
    raise TypeError(f"{cls.__name__}.{name} has no default")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def usage_check(check):
    """A Typer option callback: ``check(value)`` on a given value, and the
    :class:`~vocaltools.errors.VocaltoolsError` it raises becomes a usage error (exit status 2,
    as for any malformed flag), e.g. ``--shard 0/4`` or ``--preset nope``."""

    def callback(ctx: typer.Context, value):
        from vocaltools.errors import VocaltoolsError

        if value is None or ctx.resilient_parsing:  # not given, or TAB completion
            return value
        try:
            check(value)
        except VocaltoolsError as error:
            raise typer.BadParameter(str(error)) from error
        return value

    return callback


def _check_shard(value: str) -> None:
    from vocaltools.sharding import parse_shard

    parse_shard(value)


def _check_preset(value: str) -> None:
    from vocaltools.features.presets import get_preset

    get_preset(value)


#: callbacks of the options every command spells alike
check_shard = usage_check(_check_shard)
check_preset = usage_check(_check_preset)


def write_records(output: str | None, records, *, human) -> None:
    """JSONL ``records`` to ``output`` ('-' = stdout); with no ``output`` and stdout a terminal,
    one ``human(record)`` line each instead (as ``predict`` does), for a person to read."""
    if output is None and stdout_is_terminal():
        for record in records:
            print(human(record), flush=True)
        return
    from vocaltools.formats.jsonl import write_jsonl

    write_jsonl(output or "-", records)
