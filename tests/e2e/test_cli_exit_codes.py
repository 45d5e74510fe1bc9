"""Exit codes a script can branch on, through the installed `catalog-sync` command: 4 when the
environment is not usable (a taken port, an unreachable database), 2 for a binary "export"."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog_pipelines.api import cli as api_cli
from catalog_pipelines.cli import main
from catalog_pipelines.cli_args import EXIT_BROKEN_PIPE, EXIT_ENVIRONMENT, EXIT_USAGE
from tests.support.binary import png_bytes

CLI = [sys.executable, "-m", "catalog_pipelines.cli"]


def _cli(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_taken_port_exits_4(database_url: str, taken_port: int) -> None:
    result = _cli("serve", "--port", str(taken_port))
    assert result.returncode == EXIT_ENVIRONMENT, result.stderr
    assert f"error: cannot listen on 127.0.0.1:{taken_port}" in result.stderr
    assert "in use" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_serve_losing_the_port_after_the_check_still_exits_4(
    database_url: str,
    taken_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another process may take the port between the check and uvicorn's bind: uvicorn then
    exits 3, which must not pass for a guard's refusal."""
    monkeypatch.setattr(api_cli, "port_in_use", lambda host, port: None)
    assert main(["serve", "--port", str(taken_port)]) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert f"error: the server on 127.0.0.1:{taken_port} could not start" in err


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "argv",
    [["import", "{csv}", "--source", "shop"], ["products", "list"], ["webhooks", "list"]],
)
def test_unreachable_database_exits_4_naming_the_server_not_the_password(
    tmp_path: Path, argv: list[str]
) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text("Handle,Title,Variant Price\ntee,Tee,10\n")
    port = _unused_port()  # nothing listens there: the connection is refused
    url = f"postgresql://catalog:s3cret-pw@127.0.0.1:{port}/catalog?connect_timeout=3"
    started = time.monotonic()
    env = {"DATABASE_URL": url, "DATABASE_OWNER_URL": url}  # not the test run's owner URL
    result = _cli(*[a.format(csv=csv) for a in argv], env=env)
    assert time.monotonic() - started < 30
    assert result.returncode == EXIT_ENVIRONMENT, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one clear line, no traceback
    assert lines[0].startswith("error: cannot reach the catalog database")
    assert f"127.0.0.1:{port}/catalog" in lines[0] and "refused" in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


def test_import_of_a_png_is_not_a_text_file(database_url: str, tmp_path: Path) -> None:
    png = tmp_path / "products.csv"
    png.write_bytes(png_bytes())
    result = _cli("import", str(png), "--source", "shop")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith(f"error: {png}: not a text file (a PNG image)")
    assert "UTF-16" not in result.stderr and "mapping" not in result.stderr


def test_output_cut_short_by_head_exits_141_without_a_traceback(
    database_url: str, account: str
) -> None:
    """`catalog-sync events list --json | head`: the reader leaves before the output ends."""
    samples = Path(__file__).resolve().parents[2] / "catalog_pipelines" / "samples"
    for name in ("shopify_product_template", "woocommerce_sample_products"):
        done = _cli(
            "import", str(samples / f"{name}.csv"), "--source", name[:4], "--account", account
        )
        assert done.returncode == 0, done.stderr
    proc = subprocess.Popen(
        [*CLI, "events", "list", "--json", "--limit", "100", "--account", account],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=os.environ,
    )
    assert proc.stdout is not None and proc.stderr is not None
    # The reader is gone before the first write (a pipe's buffer could otherwise swallow the
    # whole output, and this machine's pipes are large).
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
