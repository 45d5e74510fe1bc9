import io

from catalog_pipelines.progress import for_terminal, quiet


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_a_pipe_gets_nothing() -> None:
    tty = _Tty()
    bar = for_terminal("import x.csv", tty)
    bar("reading", 0.05)
    bar("done", 1.0)
    shown = tty.getvalue()
    assert "import x.csv [" in shown and "100%" in shown and shown.endswith("\n")
    assert for_terminal("import x.csv", io.StringIO()) is quiet
