import json

from click.testing import CliRunner
from PIL import Image

from movierec.cli import main


def test_report_draws_every_picture_and_an_index(tiny_data, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(tiny_data), "--out", str(out),
                                       "--k-range", "2-5", "--models", "baseline,svd",
                                       "--min-cluster-size", "3"])
    assert result.exit_code == 0, result.output
    for name in ("elbow", "silhouette", "cluster_sizes", "cluster_heatmap", "softmax_accuracy", "rmse"):
        with Image.open(out / f"{name}.png") as image:
            assert image.size[0] > 300 and image.size[1] > 200
    index = (out / "index.html").read_text()
    assert "elbow.png" in index and "<td>svd</td>" in index
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["sizes_before"]) == sum(summary["sizes_after"]) == summary["users"]
    assert min(summary["sizes_after"]) >= 3
    assert set(summary["softmax_accuracy"]) == {"2", "3", "4", "5"}
    assert {r["model"] for r in summary["results"]} == {"baseline", "svd"}


def test_report_rejects_bad_options_cleanly(tiny_data, tmp_path):
    runner = CliRunner()
    bad_range = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path), "--k-range", "9"])
    assert bad_range.exit_code == 2 and "--k-range" in bad_range.output
    reversed_range = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                          "--k-range", "9-3"])
    assert reversed_range.exit_code == 2 and "--k-range" in reversed_range.output
    assert "needs 2 <= low <= high" in reversed_range.output
    bad_model = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path), "--models", "magic"])
    assert bad_model.exit_code == 2 and "--models" in bad_model.output
    ranking = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path), "--models", "svd,ease"])
    assert ranking.exit_code == 2 and "'ease' ranks movies and predicts no ratings" in ranking.output
    assert not list(tmp_path.glob("*.png"))
