import json

import numpy as np
import pytest
from click.testing import CliRunner

from movierec.commands.evaluate import command
from shared.recsys.evaluation.harness import RESULT_KEYS


@pytest.fixture
def small_folder(tmp_path):
    """A tiny folder in ml-latest-small's layout (ratings.csv, movies.csv, tags.csv)."""
    rng = np.random.default_rng(0)
    n_users, n_movies = 30, 25
    lines = ["userId,movieId,rating,timestamp"]
    for user in range(1, n_users + 1):
        for movie in rng.choice(n_movies, 12, replace=False) + 1:
            lines.append(f"{user},{movie},{rng.integers(1, 11) / 2},{rng.integers(9e8, 1e9)}")
    folder = tmp_path / "ml-tiny"
    folder.mkdir()
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f"{m},Movie {m} (1999),Drama|Comedy\n" for m in range(1, n_movies + 1)))
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,funny,964982703\n")
    return folder


def test_json_lines_have_exactly_the_result_keys(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--split", "random:0.8:0",
                                          "--models", "baseline", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1
    assert tuple(rows[0]) == RESULT_KEYS
    assert rows[0]["model"] == "baseline" and rows[0]["split"] == "random:0.8:0"


def test_repeated_and_comma_separated_models_each_get_a_row(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--models", "baseline,truncated-svd",
                                          "--models", "baseline", "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["model"] for line in result.stdout.splitlines()] == [
        "baseline", "truncated-svd"]


def test_table_has_a_header_and_one_row_per_model(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--split", "users:0.7:1",
                                          "--models", "baseline"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["model", "split", "folds", "RMSE"]
    assert lines[2].split()[:3] == ["baseline", "users:0.7:1", "1"]
    assert len(lines) == 3


def test_bad_split_is_a_usage_error_naming_the_option(tmp_path):
    result = CliRunner().invoke(command, [str(tmp_path), "--split", "random:2:0",
                                          "--models", "baseline"])
    assert result.exit_code == 2
    assert "--split" in result.output
    assert "FRACTION" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_lists_the_known_names(tmp_path):
    result = CliRunner().invoke(command, [str(tmp_path), "--models", "baseline,magic"])
    assert result.exit_code == 2
    assert "--models" in result.output and "'magic'" in result.output
    assert "baseline" in result.output and "default" in result.output


def test_missing_folder_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(command, [str(tmp_path / "nowhere"), "--models", "baseline"])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_folder_without_ratings_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(command, [str(tmp_path), "--models", "baseline"])
    assert result.exit_code == 1
    assert "cannot read" in result.output
    assert isinstance(result.exception, SystemExit)


def test_served_strategies_are_rows_without_a_rating_error(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--models", "served:cluster,baseline",
                                          "--k-range", "2-3", "--min-cluster-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    served, baseline = [json.loads(line) for line in result.stdout.splitlines()]
    assert served["model"] == "served:cluster" and tuple(served) == RESULT_KEYS
    assert served["rmse"] is None and served["mae"] is None
    assert 0 <= served["ndcg_at_10"] <= 1 and 0 < served["coverage_at_10"] <= 1
    assert baseline["rmse"] > 0 and 0 < baseline["popularity_percentile_at_10"] <= 100


def test_table_shows_coverage_and_popularity_and_a_dash_for_no_rmse(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--models", "served:svd",
                                          "--k-range", "2-3", "--min-cluster-size", "2"])
    assert result.exit_code == 0, result.output
    header, _, row = result.stdout.splitlines()
    assert header.split() == ["model", "split", "folds", "RMSE", "MAE", "P@10", "R@10", "nDCG@10",
                              "cov@10", "pop%@10", "fit", "s", "n_test"]
    assert row.split()[:5] == ["served:svd", "random:0.8:0", "1", "-", "-"]


def test_unknown_served_strategy_lists_the_served_names(tmp_path):
    result = CliRunner().invoke(command, [str(tmp_path), "--models", "served:magic"])
    assert result.exit_code == 2
    assert "'served:magic'" in result.output and "served:hybrid" in result.output


def test_bad_k_range_is_a_usage_error(small_folder):
    result = CliRunner().invoke(command, [str(small_folder), "--models", "served:cluster",
                                          "--k-range", "5-2"])
    assert result.exit_code == 2
    assert "--k-range" in result.output and "Traceback" not in result.output
