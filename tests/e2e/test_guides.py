"""Every code sample in docs/guides/*.md runs here, so a guide cannot rot.

Conventions (what a guide author can rely on):

- One test per guide. Its fenced blocks run in the order they appear:
  - ```python blocks run with pytest-examples in ONE namespace per guide (a later block sees
    the names an earlier one defined). Each `print(...)` must be followed by `#>` comments
    holding what it printed; a mismatch fails the test. `assert`s in samples are real.
    Refresh the `#>` lines with `uv run pytest tests/e2e/test_guides.py --update-examples`.
  - ```sh blocks run with `bash -e -o pipefail` in the guide's working folder, with the
    project's `catalog-sync` first on PATH; a non-zero exit fails the test. A ```text block
    right after a ```sh block is that block's expected stdout: it is compared with object
    ids, secrets and times masked (they differ on every run). Refresh those with
    `GUIDES_UPDATE_OUTPUT=1 uv run pytest tests/e2e/test_guides.py`.
  - Every other language (text, yaml, json, csv...) is shown, not run.
- Each guide gets a fresh, migrated database on the run's server (DATABASE_URL points at
  it), a working folder holding copies of docs/guides/data/ and catalog_pipelines/samples/
  under the same relative paths as in a checkout, and, when the guide mentions
  CATALOG_API_URL, the API server (the app `catalog-sync serve` runs, served by uvicorn in a
  thread on a free port) with CATALOG_API_URL and CATALOG_API_KEY (from
  `catalog-sync api-keys create --json`) exported. Webhooks may go to
  loopback receivers (CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS=1), as in local development.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from catalog_pipelines import db
from catalog_pipelines.api.app import api_engine, create_app
from tests.conftest import REPO, create_database
from tests.e2e.conftest import ServerThread, free_port

GUIDES = REPO / "docs" / "guides"
GUIDE_FILES = sorted(p for p in GUIDES.glob("*.md") if p.name != "index.md")
BIN = Path(sys.executable).parent  # the venv's bin: `catalog-sync` lives beside python
FENCE = re.compile(r"^```([\w-]*)\s*$")
RUN_LANGS = {"python": "python", "py": "python", "sh": "sh", "bash": "sh"}
# Values that differ between runs: ids (prod_..., run_...), secrets, timestamps, ports.
VOLATILE = re.compile(
    r"\b(?:prod|price|inv|run|evt|we|whsec|sk|key|delv)_[A-Za-z0-9+/=]+"
    r"|\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"
    r"|127\.0\.0\.1:\d+"
    r"|\b1\d{9}\b"  # unix times
    r"|\(\d+\.\ds\)"  # durations
)


@dataclass
class Block:
    lang: str  # "python", "sh" or the shown-only language
    line: int  # 1-based line of the opening fence
    source: str
    expected: str | None = None  # a sh block's expected stdout (the ```text block after it)
    expected_span: tuple[int, int] | None = None  # its lines, 0-based [start, end)


def parse_blocks(path: Path) -> list[Block]:
    """The guide's fenced blocks in order; a ```text block right after a ```sh block becomes
    that block's expected output instead of a block of its own."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = last_end = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        lang = m.group(1).lower()
        body = "\n".join(lines[i + 1 : end]) + "\n"
        previous = blocks[-1] if blocks else None
        between = lines[last_end:i]
        if (
            lang == "text"
            and previous is not None
            and previous.lang == "sh"
            and previous.expected is None
            and all(not s.strip() for s in between)
        ):
            previous.expected, previous.expected_span = body, (i + 1, end)
        else:
            blocks.append(Block(RUN_LANGS.get(lang, lang), i + 1, body))
        i = last_end = end + 1
    return blocks


def masked(text: str) -> str:
    return "\n".join(VOLATILE.sub("<id>", line).rstrip() for line in text.strip().splitlines())


def test_every_guide_is_listed_in_the_index() -> None:
    index = (GUIDES / "index.md").read_text(encoding="utf-8")
    assert len(GUIDE_FILES) >= 7
    for guide in GUIDE_FILES:
        assert f"({guide.name})" in index, f"docs/guides/index.md does not link {guide.name}"


def test_the_harness_runs_what_it_should(tmp_path: Path, eval_example: EvalExample) -> None:
    """A failing sample must fail: a shell block that exits non-zero, an assert, and a print
    whose `#>` output is wrong are all caught by the same code the guides run through."""
    sample = (
        "# t\n\n```sh\nfalse\n```\n\n```sh\necho hi\n```\n\n```text\nhi\n```\n\n"
        "```python\nassert 1 == 1\n```\n\n```yaml\nnot: run\n```\n"
    )
    probe = tmp_path / "probe.md"
    probe.write_text(sample, encoding="utf-8")
    blocks = parse_blocks(probe)
    assert [(b.lang, b.expected) for b in blocks] == [
        ("sh", None),
        ("sh", "hi\n"),
        ("python", None),
        ("yaml", None),
    ]
    with pytest.raises(AssertionError, match="exited 1"):
        run_sh(blocks[0], tmp_path)
    assert run_sh(blocks[1], tmp_path) == "hi\n"
    assert masked("run_abc123 at 2026-12-02T10:00:00Z") == "<id> at <id>"
    if eval_example.update_examples:
        return  # in update mode a wrong `#>` is rewritten, not a failure
    ok = CodeExample.create("x = 2\nprint(x + 1)\n#> 3\n", path=probe, start_line=1)
    assert _run_python(eval_example, ok, {}, quiet=False)["x"] == 2
    later = CodeExample.create("assert x == 2\n", path=probe, start_line=9)
    assert _run_python(eval_example, later, {"x": 2}, quiet=False) == {"x": 2}
    for broken in ("print(1 + 1)\n#> 3\n", "assert 1 + 1 == 3\n", "raise KeyError('k')\n"):
        example = CodeExample.create(broken, path=probe, start_line=5)
        with pytest.raises(pytest.fail.Exception, match=r"probe\.md|Print output changed"):
            _run_python(eval_example, example, {}, quiet=False)


def run_sh(block: Block, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.source],
        cwd=cwd,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, (
        f"sh block at line {block.line} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def _cli(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "catalog-sync"), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def guide_env(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A fresh database, a working folder with the guides' data, and (if the guide uses the
    API) the API server with a real API key."""
    guide: Path = request.node.callspec.params["guide"]
    work = tmp_path / "work"
    shutil.copytree(GUIDES / "data", work / "docs" / "guides" / "data")
    shutil.copytree(REPO / "catalog_pipelines" / "samples", work / "catalog_pipelines" / "samples")
    monkeypatch.chdir(work)
    url = create_database(server_url, "guide")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CATALOG_ALLOW_PRIVATE_WEBHOOK_URLS", "1")
    for name in ("CATALOG_API_URL", "CATALOG_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with contextlib.ExitStack() as stack:
        if "CATALOG_API_URL" in guide.read_text(encoding="utf-8"):
            # The app `catalog-sync serve` runs, in a thread: a subprocess costs seconds a guide.
            engine = api_engine(url)
            stack.callback(engine.dispose)
            server = stack.enter_context(ServerThread(create_app(engine), free_port()))
            key = json.loads(_cli("api-keys", "create", "--json"))
            monkeypatch.setenv("CATALOG_API_URL", server.url)
            monkeypatch.setenv("CATALOG_API_KEY", key["secret"])
        yield work
    db.drop_database(server_url, url)


def _python_examples(guide: Path) -> dict[int, CodeExample]:
    return {ex.start_line: ex for ex in find_examples(guide)}


@pytest.mark.parametrize("guide", GUIDE_FILES, ids=[g.stem for g in GUIDE_FILES])
def test_guide(guide: Path, guide_env: Path, eval_example: EvalExample) -> None:
    blocks = parse_blocks(guide)
    examples = _python_examples(guide)
    python_blocks = [b for b in blocks if b.lang == "python"]
    assert sorted(examples) == [b.line for b in python_blocks], "unparsed python blocks"
    assert blocks and any(b.lang in ("python", "sh") for b in blocks), "a guide with no sample"
    updating_outputs = bool(os.environ.get("GUIDES_UPDATE_OUTPUT"))
    if eval_example.update_examples and updating_outputs:
        pytest.fail("refresh `#>` prints and sh outputs in two runs: both rewrite the file")
    namespace: dict[str, Any] = {}
    new_outputs: list[tuple[tuple[int, int], str]] = []
    for block in blocks:
        if block.lang == "python":
            namespace = _run_python(eval_example, examples[block.line], namespace, updating_outputs)
        elif block.lang == "sh":
            out = run_sh(block, guide_env)
            if block.expected_span is None:
                continue
            if updating_outputs:
                new_outputs.append((block.expected_span, out))
            elif not eval_example.update_examples:
                assert masked(out) == masked(block.expected or ""), (
                    f"{guide.name}: the output of the sh block at line {block.line} changed"
                )
    if new_outputs:
        _rewrite_outputs(guide, new_outputs)


def _run_python(
    eval_example: EvalExample, example: CodeExample, namespace: dict[str, Any], quiet: bool
) -> dict[str, Any]:
    """Run one python block in the guide's namespace (checking or refreshing its `#>` prints).
    An exception fails the test with the block's line: pytest-examples points the traceback
    into the markdown file, which pytest's own traceback printer cannot always render."""
    try:
        if eval_example.update_examples:
            return eval_example.run_print_update(example, module_globals=namespace)
        if quiet:  # prints are checked in the run that does not rewrite sh outputs
            return eval_example.run(example, module_globals=namespace)
        return eval_example.run_print_check(example, module_globals=namespace)
    except Exception as e:
        lines, tb = [], e.__traceback__
        while tb is not None:  # walked by hand: traceback.extract_tb trips on these frames
            if tb.tb_frame.f_code.co_filename.endswith(".md"):
                lines.append(f"  line {tb.tb_lineno}")
            tb = tb.tb_next
        detail = "".join(traceback.format_exception_only(type(e), e))
        failure = (
            f"{example.path.name}, python block at line {example.start_line} raised at\n"
            + "\n".join(lines)
            + f"\n{detail}"
        )
    # outside the except block, so the example's synthetic traceback is not chained
    pytest.fail(failure, pytrace=False)


def _rewrite_outputs(guide: Path, outputs: list[tuple[tuple[int, int], str]]) -> None:
    lines = guide.read_text(encoding="utf-8").splitlines()
    for (start, end), out in sorted(outputs, reverse=True):
        lines[start:end] = [line.rstrip() for line in out.rstrip("\n").splitlines()]
    guide.write_text("\n".join(lines) + "\n", encoding="utf-8")
