"""Every command answers --help, and the data commands work through the CLI."""
import pytest
from click.testing import CliRunner

from movierec.cli import COMMANDS, main
from tests.keys import KEYS_ENV


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main {name}" in result.output or f"Usage: movierec {name}" in result.output
    assert len(result.output.splitlines()) > 3


def test_top_level_help_lists_every_command():
    output = CliRunner().invoke(main, ["--help"]).output
    for name in COMMANDS:
        assert name in output


def test_generate_writes_the_same_files_for_the_same_seed(tmp_path):
    runner = CliRunner()
    args = ["generate", "--users", "30", "--movies", "80", "--ratings", "900", "--seed", "4"]
    assert runner.invoke(main, args + [str(tmp_path / "a")]).exit_code == 0
    result = runner.invoke(main, args + [str(tmp_path / "b")])
    assert result.exit_code == 0 and "wrote 900 ratings by 30 users of 80 movies" in result.output
    for name in ("ratings.csv", "movies.csv", "tags.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_generate_rejects_impossible_sizes_with_a_message(tmp_path):
    result = CliRunner().invoke(main, ["generate", "--users", "2", "--movies", "3", "--ratings",
                                       "100", str(tmp_path)])
    assert result.exit_code == 2 and "n_ratings" in result.output
    assert "Traceback" not in result.output


def test_import_of_a_malformed_file_names_file_and_line_and_stores_nothing(tmp_path, monkeypatch,
                                                                           redis_url):
    import redis

    from shared.store.keys import Keys

    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A (2000),Drama\n")
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,100\n2,1,9.0,100\n")
    monkeypatch.setenv("REDIS_URL", redis_url)
    result = CliRunner().invoke(main, ["import", str(tmp_path)])
    assert result.exit_code == 1
    assert "ratings.csv line 3" in result.output and "rating" in result.output
    # only the store's layout mark, which the stores write once whatever comes next
    assert redis.Redis.from_url(redis_url).keys() == [Keys().layout.encode()]


def test_a_bad_environment_variable_is_a_clean_message(monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1
    assert "configuration: PORT must be an integer, got 'eighty'" in result.output


def test_serve_runs_gunicorn_with_the_configured_worker_class(monkeypatch):
    from movierec.commands import serve

    ran = {}
    monkeypatch.setattr(serve.GunicornApp, "run", lambda self: ran.update(self.options))
    monkeypatch.setenv("API_WORKER_CLASS", "sync")
    monkeypatch.setenv("API_WORKERS", "4")
    for name, value in KEYS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOST", raising=False)
    assert CliRunner().invoke(main, ["serve", "--port", "8123"]).exit_code == 0
    assert ran["worker_class"] == "sync" and ran["workers"] == 4
    assert ran["bind"] == "127.0.0.1:8123"
    result = CliRunner().invoke(main, ["serve", "--worker-class", "gevent", "--workers", "2"])
    assert result.exit_code == 0
    assert ran["worker_class"] == "gevent" and ran["workers"] == 2


def test_serve_listens_where_host_says_and_host_option_wins(monkeypatch):
    from movierec.commands import serve

    ran = {}
    monkeypatch.setattr(serve.GunicornApp, "run", lambda self: ran.update(self.options))
    for name, value in KEYS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORT", "8124")
    monkeypatch.delenv("HOST", raising=False)
    assert CliRunner().invoke(main, ["serve"]).exit_code == 0
    assert ran["bind"] == "127.0.0.1:8124"
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert CliRunner().invoke(main, ["serve"]).exit_code == 0
    assert ran["bind"] == "0.0.0.0:8124"
    assert CliRunner().invoke(main, ["serve", "--host", "::1"]).exit_code == 0
    assert ran["bind"] == "[::1]:8124"
    help_text = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    assert "$HOST or 127.0.0.1" in help_text
