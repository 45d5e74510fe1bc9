"""MkDocs hook: renders the `catalog-sync` command reference from the real argparse parser.

cli.md holds the marker `<!-- cli-reference -->`; at build time it is replaced by every
subcommand (recursively), its help, its usage and a table of its arguments with their help
and defaults. Nothing is written by hand, so a new command or option shows up by itself, and
tests/unit/test_docs_reference.py fails if a subcommand of the parser is missing here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- cli-reference -->"
USAGE_WIDTH = 76  # fits the Material content column without a scrollbar


def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, str | None, argparse.ArgumentParser]]:
    """(name, help, parser) of each direct subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(sub))
                yield name, helps.get(name), sub


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    """Every subcommand at any depth: (path such as ("sources", "add"), help, parser)."""
    for name, help_text, sub in _subcommands(parser):
        yield (*path, name), help_text, sub
        yield from walk(sub, (*path, name))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip()


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The option's help as `--help` prints it (with %(default)s and friends expanded)."""
    if not action.help:
        return ""
    formatter = argparse.HelpFormatter(parser.prog)
    return formatter._expand_help(action)


def _default(action: argparse.Action) -> str:
    if action.required or isinstance(
        action, argparse._StoreTrueAction | argparse._StoreFalseAction | argparse._HelpAction
    ):
        return ""
    default = action.default
    if default is None or default is argparse.SUPPRESS:
        return ""
    if isinstance(default, list):
        default = ",".join(str(d) for d in default)
    return f"`{default}`"


def _name(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.nargs != 0 and (action.metavar or action.choices is None):
            metavar = action.metavar or action.dest.upper()
            names += f" `{metavar}`"
        return names
    return f"`{action.metavar or action.dest}`"


def _arguments_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.help is argparse.SUPPRESS:
            continue
        help_text = _help(parser, action)
        if action.choices is not None:
            choices = ", ".join(f"`{c}`" for c in action.choices)
            help_text = f"{help_text} (one of {choices})" if help_text else f"one of {choices}"
        required = "yes" if action.required or not action.option_strings else ""
        rows.append(f"| {_name(action)} | {_cell(help_text)} | {required} | {_default(action)} |")
    if not rows:
        return []
    return ["| argument | meaning | required | default |", "|---|---|---|---|", *rows, ""]


def render(parser: argparse.ArgumentParser) -> str:
    """Markdown for every subcommand of `parser`, depth first."""
    out: list[str] = []
    for path, help_text, sub in walk(parser):
        level = "#" * min(len(path) + 1, 4)
        out.append(f"{level} {parser.prog} {' '.join(path)}")
        out.append("")
        summary = help_text or sub.description
        if summary:
            out += [_cell(summary)[:1].upper() + _cell(summary)[1:] + ".", ""]
        out += ["```text", _usage(sub), "```", ""]
        out += _arguments_table(sub)
    return "\n".join(out)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    from catalog_pipelines.cli import build_parser

    return markdown.replace(MARKER, render(build_parser()))
