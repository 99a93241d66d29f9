"""Generate the man pages (man/*.1) and shell completions (completions/) from the Typer app.

Run ``python -m vocaltools.cli.docgen`` after changing a command; ``--check`` exits 1 and names
the stale files instead of writing (the test suite runs that).
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Iterator

from vocaltools import __version__

ROOT = Path(__file__).resolve().parents[2]
PROG = "vocaltools"
COMPLETE_VAR = "_VOCALTOOLS_COMPLETE"
EXIT_STATUS = [
    ("0", "Success."),
    ("1", "An expected error: bad input, an unreadable or invalid file, an unknown model, or (in a "
          "batch) at least one failed item; each is reported on stderr as one 'error:' line per "
          "failure. The good items of a batch are still written."),
    ("2", "A usage error: an unknown option, a missing argument or an invalid value."),
    ("130", "Interrupted (Ctrl-C)."),
]
# a fixed date keeps the generated pages reproducible; it changes with the version only
DATE = {"0.1.0": "2026-11-23"}.get(__version__, _dt.date.today().isoformat())


def _escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def _walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command and group below ``command`` with its name path."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from _walk(sub, path + (name,))


def _param_lines(param: Any) -> str:
    from typer.core import TyperArgument

    if isinstance(param, TyperArgument):
        name = param.name.upper() + ("..." if param.nargs == -1 else "")
        head = f"\\fI{_escape(name)}\\fR"
    else:
        opts = ", ".join(f"\\fB{_escape(o)}\\fR" for o in [*param.opts, *param.secondary_opts])
        metavar = "" if param.is_flag else f" \\fI{_escape((param.metavar or param.name).upper())}\\fR"
        head = opts + metavar
    help_text = _escape(getattr(param, "help", None) or "")
    default = param.default
    if default not in (None, False, (), []) and not callable(default) and not getattr(
            param, "is_flag", False):
        help_text += f" Default: {_escape(str(default))}."
    if getattr(param, "required", False):
        help_text += " Required."
    return f".TP\n{head}\n{help_text}\n"


def man_page(path: tuple[str, ...], command: Any) -> str:
    """The roff text of one command's man page."""
    full = " ".join((PROG, *path))
    page = "-".join((PROG, *path))
    help_text = (command.help or "").strip()
    short = help_text.splitlines()[0] if help_text else ""
    out = [f'.TH "{page.upper()}" "1" "{DATE}" "vocaltools {__version__}" "vocaltools manual"',
           ".SH NAME", f"{_escape(page)} \\- {_escape(short)}", ".SH SYNOPSIS",
           f"\\fB{_escape(full)}\\fR [\\fIOPTIONS\\fR]"
           + ("".join(f" \\fI{_escape(p.name.upper())}\\fR" for p in command.params
                      if p.param_type_name == "argument")),
           ".SH DESCRIPTION", _escape(help_text)]
    subcommands = getattr(command, "commands", None)
    if subcommands:
        out.append(".SH COMMANDS")
        for name, sub in sorted(subcommands.items()):
            sub_help = (sub.help or "").strip().splitlines()
            out += [".TP", f"\\fB{_escape(name)}\\fR",
                    _escape(sub_help[0] if sub_help else ""),
                    f"See \\fB{_escape('-'.join((PROG, *path, name)))}\\fR(1)."]
    options = [p for p in command.params if p.name not in ("install_completion", "show_completion")]
    out.append(".SH OPTIONS")
    out += [_param_lines(p).rstrip("\n") for p in options]
    out += [".TP", "\\fB\\-h\\fR, \\fB\\-\\-help\\fR", "Show the help and exit."]
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_STATUS:
        out += [".TP", code, _escape(text)]
    if not path:
        out += [".SH ENVIRONMENT", ".TP", "VOCALTOOLS_HOME",
                "Where trained models are registered and caches kept "
                "(default: ~/.local/share/vocaltools)."]
    see_also = sorted({"-".join((PROG, *p)) for p, _ in _walk(_root_command(), ())} - {page})
    out += [".SH SEE ALSO", ", ".join(f"\\fB{_escape(name)}\\fR(1)" for name in see_also)]
    return "\n".join(out) + "\n"


def _root_command() -> Any:
    import typer.main

    from vocaltools.cli.app import app

    return typer.main.get_command(app)


def generated_files() -> dict[Path, str]:
    """Every generated file (relative path -> content)."""
    from typer._completion_shared import get_completion_script

    files: dict[Path, str] = {}
    for path, command in _walk(_root_command(), ()):
        files[Path("man") / ("-".join((PROG, *path)) + ".1")] = man_page(path, command)
    for shell, name in (("bash", f"{PROG}.bash"), ("zsh", f"_{PROG}"), ("fish", f"{PROG}.fish")):
        script = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
        files[Path("completions") / name] = script + "\n"
    return files


def stale_files(root: Path = ROOT) -> list[str]:
    """Generated files whose committed copy differs, is missing, or is no longer generated."""
    files = generated_files()
    stale = [str(p) for p, text in files.items()
             if not (root / p).is_file() or (root / p).read_text(encoding="utf-8") != text]
    for folder in ("man", "completions"):
        for existing in sorted((root / folder).glob("*")):
            if existing.relative_to(root) not in files:
                stale.append(f"{existing.relative_to(root)} (no longer generated)")
    return stale


def write_all(root: Path = ROOT) -> None:
    files = generated_files()
    for folder in ("man", "completions"):
        for existing in (root / folder).glob("*"):
            if existing.relative_to(root) not in files:
                existing.unlink()
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        stale = stale_files()
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        if stale:
            print("run: python -m vocaltools.cli.docgen", file=sys.stderr)
        return 1 if stale else 0
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
