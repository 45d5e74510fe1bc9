"""Every `catalog-sync` subcommand and option explains itself in `--help`, defaults included.

Walks the real parser tree (main CLI, webhooks, serve/api-keys), so a subcommand or option
added later without help text fails here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from catalog_pipelines.cli import build_parser
from catalog_pipelines.cli_args import EXIT_ENVIRONMENT


def _walk(
    parser: argparse.ArgumentParser, path: str = "catalog-sync"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")


PARSERS = list(_walk(build_parser()))


def _shown_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text as `--help` prints it (before line wrapping)."""
    return parser._get_formatter()._expand_help(action)


def test_the_tree_is_walked() -> None:
    paths = {path for path, _ in PARSERS}
    assert {
        "catalog-sync import",
        "catalog-sync serve",
        "catalog-sync webhooks deliver",
        "catalog-sync api-keys create",
        "catalog-sync products show",
    } <= paths
    assert len(paths) > 20


@pytest.mark.parametrize("path,parser", PARSERS, ids=[p for p, _ in PARSERS])
def test_every_subcommand_has_help(path: str, parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions if a.help}
            missing = sorted(set(action.choices) - helped)
            assert not missing, f"{path}: subcommands without help: {missing}"
            for name, sub in action.choices.items():
                assert sub.description, f"{path} {name}: --help has no description"


@pytest.mark.parametrize("path,parser", PARSERS, ids=[p for p, _ in PARSERS])
def test_every_option_has_help_showing_its_default(
    path: str, parser: argparse.ArgumentParser
) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{path} {name}: no help text"
        takes_value = action.nargs != 0  # flags (store_true) default to "off"
        if action.option_strings and takes_value and action.default is not None:
            shown = _shown_help(parser, action)
            assert str(action.default) in shown, (
                f"{path} {name}: default {action.default!r} not shown in {shown!r}"
            )


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["import", "--help"], ["(default: auto)", "(default: full)", "incremental:"]),
        (["serve", "--help"], ["(default: 8000)", "(default: 127.0.0.1)"]),
        (["--help"], ["exit codes:", f"{EXIT_ENVIRONMENT} environment problem"]),
    ],
)
def test_help_output(
    argv: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # undo line wrapping
    for text in expected:
        assert text in out
