"""The generated references of the docs site (docs/hooks/) cover the real CLI and API.

A new subcommand, option or endpoint shows up in docs/cli.md and docs/api.md by itself; these
tests fail if the generators ever stop covering the real parser or the real OpenAPI document.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from catalog_pipelines import cli_args
from catalog_pipelines.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command of `parser`, found independently of the hook's own walk."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found += _commands(sub, (*path, name))
    return found


def _sections(markdown: str) -> dict[str, str]:
    """Heading text -> the markdown up to the next heading."""
    parts = re.split(r"^#{2,4} (.+)$", markdown, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_cli_reference_has_a_section_for_every_subcommand_and_option() -> None:
    parser = build_parser()
    sections = _sections(_hook("cli_reference").render(parser))
    commands = _commands(parser)
    assert len(commands) > 20  # import, sources add, webhooks replay, api-keys create, ...
    for path, sub in commands:
        heading = "catalog-sync " + " ".join(path)
        assert heading in sections, f"{heading!r} is missing from the CLI reference"
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert f"`{option}`" in sections[heading], f"{heading}: {option} not documented"


def test_cli_reference_renders_help_defaults_and_choices_of_any_parser() -> None:
    parser = argparse.ArgumentParser(prog="catalog-sync")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("brand-new", help="a command nobody documented by hand")
    p.add_argument(
        "--batch-size", type=int, default=500, help="rows per batch (default %(default)s)"
    )
    p.add_argument("--mode", choices=["fast", "safe"], default="safe")
    p.add_argument("--no-help-here", default="x")
    nested = p.add_subparsers(dest="what").add_parser("deeper")
    nested.add_argument("target")

    out = _hook("cli_reference").render(parser)

    sections = _sections(out)
    assert "catalog-sync brand-new" in sections and "catalog-sync brand-new deeper" in sections
    body = sections["catalog-sync brand-new"]
    assert "A command nobody documented by hand." in body
    # %(default)s is expanded as --help expands it, and the default has its own column
    assert "rows per batch (default 500) |  | `500` |" in body
    assert "one of `fast`, `safe`" in body and "`safe`" in body
    assert "`--no-help-here`" in body and "`x`" in body
    assert "| `target` |" in sections["catalog-sync brand-new deeper"]


def test_cli_and_api_pages_carry_the_markers_the_hooks_replace() -> None:
    assert _hook("cli_reference").MARKER in (DOCS / "cli.md").read_text(encoding="utf-8")
    assert _hook("api_reference").MARKER in (DOCS / "api.md").read_text(encoding="utf-8")


def test_every_exit_code_is_documented() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    codes = {v for k, v in vars(cli_args).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert codes >= {0, 1, 2, 3}
    for code in codes:
        assert re.search(rf"^\| `{code}` \|", page, flags=re.MULTILINE), f"exit code {code}"


def test_api_reference_covers_every_operation_without_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_database(*args: object, **kwargs: object) -> None:
        raise AssertionError("building the API reference must not touch a database")

    monkeypatch.setattr(sa.engine.Engine, "connect", no_database)
    monkeypatch.setattr("catalog_pipelines.db.start_embedded", no_database)
    hook = _hook("api_reference")
    document = hook.openapi_document()
    out = hook.render(document)

    operations = [
        (method, path)
        for path, ops in document["paths"].items()
        for method in ops
        if method in hook.METHODS
    ]
    assert len(operations) > 15
    for method, path in operations:
        assert f"### `{method.upper()} {path}`" in out
    for name in document["components"]["schemas"]:
        assert f"### {name} {{: #schema-{name.lower()} }}" in out
    assert "| `starting_after` | query |" in out  # parameters are rendered
