"""The exception hierarchy. Expected failures raise a subclass of :class:`VocaltoolsError`;
the CLI prints ``error: <message>`` for them and exits 1. Anything else is a bug."""


class VocaltoolsError(Exception):
    """Base class of every expected vocaltools failure."""


class InputError(VocaltoolsError):
    """Bad user input: an unreadable audio file, a missing path, an invalid value."""


class FormatError(VocaltoolsError):
    """A file that does not follow a vocaltools schema (or one of a newer version)."""


class ModelError(VocaltoolsError):
    """An unknown model name, a checkpoint that cannot be loaded, an incompatible input."""


class ConfigError(VocaltoolsError):
    """An invalid combination of settings."""


def did_you_mean(name: str, valid) -> str:
    """``"; did you mean 'x'?"`` for the entry of ``valid`` closest to ``name`` (difflib), or
    ``""`` when none is close: the tail of every unknown-name message, after the valid names."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""

def describe_os_error(error: OSError) -> str:
    """One line for an operating-system error on reading or writing: ``PATH: reason`` (both paths
    of a rename or link), e.g. ``out/x.npz: No space left on device``."""
    import os

    reason = error.strerror or (os.strerror(error.errno) if error.errno else "") or str(error)
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason
