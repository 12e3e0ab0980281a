"""The command reference, from the `riskstream` command tree (typer on click)."""

from typing import Any

import typer
from typer import _click as click

from riskstream.cli import build_app
from riskstream.docs_gen.markdown import banner, code, table, text

PATH = "docs/reference/cli.md"
SKIPPED_OPTIONS = frozenset({"--help"})

INTRO = """\
# Command reference

Every `riskstream` command with its help and options, as `riskstream COMMAND --help`
prints them (`riskstream/cli/`, `riskstream/bench/`). Every command also takes `--help`.
Exit codes: 0 done; 1 the command could not go on or found a fault (ingest lost its
store or its MQTT loop, `audit verify` found a broken entry); 2 bad usage or input (an
unknown option, a refused file, a port in use).
"""


def help_text(raw: str) -> str:
    """Click help as Markdown: paragraphs flowed, ``\\b`` paragraphs kept as written."""
    out = []
    for paragraph in raw.strip().split("\n\n"):
        if paragraph.startswith("\b"):
            lines = paragraph[1:].strip("\n")
            out.append(f"```text\n{lines}\n```")
        else:
            out.append(text(paragraph))
    return "\n\n".join(out)


def _usage(command: Any, ctx: Any, path: list[str]) -> str:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return f"```text\n{' '.join(path)} {pieces}\n```"


def _parameters(command: Any, ctx: Any) -> str | None:
    rows = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or set(param.opts) & SKIPPED_OPTIONS:
            continue
        names, about = record
        if param.param_type_name == "argument":
            name, _, kind = names.partition(" ")
            names = f"{name.upper()} {kind}".strip()
        rows.append([code(names), text(about)])
    if not rows:
        return None
    return table(["argument or option", "meaning"], rows)


def _command(command: Any, path: list[str], parent: Any | None) -> list[str]:
    ctx = click.Context(command, info_name=path[-1], parent=parent)
    level = "#" * min(len(path) + 1, 4)
    out = [f"{level} `{' '.join(path)}`", _usage(command, ctx, path), help_text(command.help or "")]
    params = _parameters(command, ctx)
    if params:
        out.append(params)
    if hasattr(command, "commands"):  # a group
        names = command.list_commands(ctx)
        subs = ", ".join(code(" ".join([*path, n])) for n in names)
        out.append(f"Commands: {subs}.")
        for name in names:
            out += _command(command.get_command(ctx, name), [*path, name], ctx)
    return out


def render() -> str:
    """The whole page."""
    root = typer.main.get_command(build_app())
    parts = [banner("the riskstream command (riskstream/cli/)"), INTRO.strip()]
    parts += _command(root, ["riskstream"], None)
    return "\n\n".join(parts) + "\n"
