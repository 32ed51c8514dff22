import json
import re

from click.testing import CliRunner
from PIL import Image

from movierec.cli import main


def test_report_draws_every_picture_and_an_index(tiny_data, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(tiny_data), "--out", str(out),
                                       "--k-range", "2-5", "--models", "baseline,svd",
                                       "--min-cluster-size", "3"])
    assert result.exit_code == 0, result.output
    for name in ("elbow", "silhouette", "cluster_sizes", "cluster_heatmap", "softmax_accuracy",
                 "accuracy"):
        with Image.open(out / f"{name}.png") as image:
            assert image.size[0] > 300 and image.size[1] > 200
    index = (out / "index.html").read_text()
    assert "elbow.png" in index and "<td>svd</td>" in index
    summary = json.loads((out / "summary.json").read_text())
    assert sum(summary["sizes_before"]) == sum(summary["sizes_after"]) == summary["users"]
    assert min(summary["sizes_after"]) >= 3
    assert set(summary["softmax_accuracy"]) == {"2", "3", "4", "5"}
    assert {r["model"] for r in summary["results"]} == {"baseline", "svd"} | LISTS


LISTS = {"served:personal", "most-popular"}


def test_the_accuracy_table_puts_the_served_list_first_beside_the_floor(tiny_data, tmp_path):
    """The table once showed only the rating models, whose lists are not what the API serves."""
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(tiny_data), "--out", str(out),
                                       "--k-range", "2-4", "--models", "baseline,svd"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "summary.json").read_text())["results"]
    assert [(r["model"], r["kind"]) for r in results][0] == ("served:personal", "served")
    assert [r["ndcg_at_10"] for r in results[1:]] == sorted(
        (r["ndcg_at_10"] for r in results[1:]), reverse=True)
    kinds = {r["model"]: r["kind"] for r in results}
    assert kinds == {"served:personal": "served", "most-popular": "floor", "baseline": "rating",
                     "svd": "rating"}
    for r in results:
        assert 0 < r["ndcg_at_10"] <= 1 and 0 < r["precision_at_10"] <= 1, r["model"]
        assert (r["rmse"] is None) == (r["model"] in LISTS), r["model"]

    # the numbers are the harness's, as `movierec evaluate` prints them
    evaluated = CliRunner().invoke(main, ["evaluate", str(tiny_data), "--models",
                                          "served:personal,most-popular,svd", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    by_model = {r["model"]: r for r in results}
    for line in evaluated.stdout.splitlines():
        expected = json.loads(line)
        for key in ("ndcg_at_10", "precision_at_10", "rmse"):
            got = by_model[expected["model"]][key]
            rounded = got if got is None else round(got, 4)
            assert rounded == expected[key], (expected["model"], key)

    index = (out / "index.html").read_text()
    table = index[index.index("<table>"):index.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == ["model", "what it is", "nDCG@10", "P@10",
                                                      "RMSE", "fit s"]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows[1:]]
    assert cells[0][:2] == ["served:personal", "what the API serves"]
    assert '<tr class=served><td>served:personal</td>' in table
    by_name = {row[0]: row for row in cells}
    assert by_name["most-popular"][1].startswith("floor")
    assert by_name["served:personal"][4] == by_name["most-popular"][4] == "–"
    assert by_name["svd"][4] == f"{by_model['svd']['rmse']:.4f}"
    assert by_name["served:personal"][2] == f"{by_model['served:personal']['ndcg_at_10']:.4f}"


def test_report_rejects_bad_options_cleanly(tiny_data, tmp_path):
    runner = CliRunner()
    bad_range = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                     "--k-range", "9"])
    assert bad_range.exit_code == 2 and "--k-range" in bad_range.output
    reversed_range = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                          "--k-range", "9-3"])
    assert reversed_range.exit_code == 2 and "--k-range" in reversed_range.output
    assert "needs 2 <= low <= high" in reversed_range.output
    bad_model = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                     "--models", "magic"])
    assert bad_model.exit_code == 2 and "--models" in bad_model.output
    ranking = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                   "--models", "svd,ease"])
    assert ranking.exit_code == 2
    assert "'ease' ranks movies and predicts no ratings" in ranking.output
    assert "give lists with --lists" in ranking.output
    bad_list = runner.invoke(main, ["report", str(tiny_data), "--out", str(tmp_path),
                                    "--lists", "served:magic"])
    assert bad_list.exit_code == 2 and "--lists" in bad_list.output
    assert "unknown model 'served:magic'; choose from" in bad_list.output
    assert not list(tmp_path.glob("*.png"))
