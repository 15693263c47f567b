"""``yorisoi serve``: the console's address first, tokens in a file, links at the served address."""

from __future__ import annotations

import stat

import pytest
from typer.testing import CliRunner

from yorisoi.infra import cli
from yorisoi.infra.settings import get_settings


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Runs ``serve`` with uvicorn replaced: returns (output, the app's settings)."""
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    monkeypatch.delenv("YORISOI_PUBLIC_URL", raising=False)
    get_settings.cache_clear()
    started: dict = {}

    import uvicorn

    def run(app, host, port, **kwargs):  # noqa: ANN001, ANN003, ANN202
        started.update(app=app, host=host, port=port)

    monkeypatch.setattr(uvicorn, "run", run)
    closers = []

    def serve(*args: str) -> tuple[str, object]:
        result = CliRunner().invoke(cli.app, ["serve", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        services = started["app"].state.services
        closers.append(services)
        return result.output, services.settings

    yield serve
    for services in closers:
        services.close()
    get_settings.cache_clear()


def test_start_up_prints_the_console_first_and_where_the_tokens_are(served, tmp_path):
    output, settings = served("--port", "9123")
    lines = [line for line in output.splitlines() if line.strip()]
    assert "http://127.0.0.1:9123/console" in lines[0]  # before anything else
    assert "Bearer" not in output  # no wall of tokens
    tokens = tmp_path / cli.DEMO_TOKENS_FILE
    assert str(tokens) in output and "yorisoi dev-token" in output
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert tokens.read_text(encoding="utf-8").count("Authorization: Bearer ") == 8
    # A referral packet's link points at the port the server was started on.
    assert settings.public_url == "http://127.0.0.1:9123"


def test_yorisoi_public_url_wins_over_the_served_address(served, monkeypatch):
    monkeypatch.setenv("YORISOI_PUBLIC_URL", "https://yorisoi.example.lg.jp/")
    get_settings.cache_clear()
    output, settings = served("--port", "9124", "--no-demo")
    assert settings.public_url == "https://yorisoi.example.lg.jp"
    assert "http://127.0.0.1:9124/console" in output.splitlines()[0]


def test_listening_on_every_interface_names_the_machine_for_others():
    assert cli.served_address("0.0.0.0", 9000).startswith("http://")
    assert cli.served_address("0.0.0.0", 9000) != "http://0.0.0.0:9000"
    assert cli.local_address("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert cli.served_address("::1", 9000) == "http://[::1]:9000"
    lines = cli.startup_lines("http://host.lg.jp:9000", "http://127.0.0.1:9000")
    assert lines[0].endswith("http://127.0.0.1:9000/console[/bold]")
    assert any("http://host.lg.jp:9000/console" in line for line in lines)


def test_several_workers_each_listen_on_a_socket_of_their_own(tmp_path, monkeypatch):
    """``--workers 2`` serves through infra/reuseport (a SO_REUSEPORT socket per process:
    tests/infra/test_reuseport.py), not uvicorn's one shared socket, where every
    keep-alive client landed on one process."""
    from yorisoi.infra import reuseport

    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("YORISOI_BACKEND", "sqlite")
    get_settings.cache_clear()
    started: dict = {}
    monkeypatch.setattr(reuseport, "serve",
                        lambda app, **kwargs: started.update(app=app, **kwargs))
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn's shared socket"))
    try:
        result = CliRunner().invoke(cli.app, ["serve", "--workers", "2", "--port", "9125",
                                              "--no-demo"], catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert started["app"] == "yorisoi.infra.http.asgi:application" and started["factory"]
    assert (started["workers"], started["port"]) == (2, 9125)
