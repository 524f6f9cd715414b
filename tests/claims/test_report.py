"""``python -m tsssm.claims`` end to end, on tiny synthetic runs logged to a temporary MLflow store.

The store holds, with the tags ``tsssm.run.tracking.run_tags`` writes:

- C1 (``claims/c1-linear-time``), L = 2^14, 2^15, 2^16: s4 with step time 1e-9 L (1 + seed/100)
  and memory 1000 L; the transformer with 1e-12 L^2 and L^2, out of memory at 2^17 (seed 1); mamba
  with two seeds only.
- C3 (``claims/c3-ltsf``), horizon 96: the transformer at MSE 0.4 + seed/100; mamba 0.05 below it
  on ETTh1, 0.05 above on Exchange, seeds spread by -0.001, 0, +0.001; plus an older run of mamba
  on ETTh1, seed 1, that the latest run replaces.
- C6 (``claims/c6-recall``): mamba and the transformer with two seeds.
"""

from __future__ import annotations

import math

import mlflow
import pandas as pd
import pytest

from tsssm.run import tracking
from tsssm.claims.__main__ import main

T2 = 4.302653


def log_run(client: mlflow.MlflowClient, experiment_id: str, tags: dict[str, str],
            metrics: dict[str, float]) -> None:
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.set_tags(tags)
        mlflow.log_metrics(metrics)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("claims")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    c1, c3, c6 = (client.create_experiment(name, artifact_location=(folder / "artifacts").as_uri())
                  for name in ("claims/c1-linear-time", "claims/c3-ltsf", "claims/c6-recall"))
    stale = client.create_run(c3, start_time=1, tags=tracking.run_tags("mamba", "ETTh1", 96, 1))
    client.log_metric(stale.info.run_id, "test/mse", 100.0)
    client.set_terminated(stale.info.run_id)
    for seed in (1, 2, 3):
        for length in (2 ** 14, 2 ** 15, 2 ** 16):
            tags = tracking.run_tags("s4", "random", f"L{length}", seed)
            log_run(client, c1, tags, {"train/step_s": 1e-9 * length * (1 + seed / 100),
                                       "train/peak_bytes": 1000.0 * length})
            tags = tracking.run_tags("transformer", "random", f"L{length}", seed)
            log_run(client, c1, tags, {"train/step_s": 1e-12 * length ** 2, "train/peak_bytes": length ** 2})
            if seed < 3:
                tags = tracking.run_tags("mamba", "random", f"L{length}", seed)
                log_run(client, c1, tags, {"train/step_s": 1e-9 * length, "train/peak_bytes": 500.0 * length})
        for dataset, difference in (("ETTh1", -0.05), ("Exchange", 0.05)):
            base = 0.4 + seed / 100
            log_run(client, c3, tracking.run_tags("transformer", dataset, 96, seed), {"test/mse": base})
            spread = (seed - 2) / 1000
            log_run(client, c3, tracking.run_tags("mamba", dataset, 96, seed),
                    {"test/mse": base + difference + spread})
    log_run(client, c1, tracking.run_tags("transformer", "random", "L131072", 1), {"oom": 1.0})
    for seed in (1, 2):
        for model in ("mamba", "transformer"):
            tags = tracking.run_tags(model, "mqar", "L64", seed) | {"tsssm.width": "64",
                                                                     "tsssm.lr": "0.001"}
            log_run(client, c6, tags, {"test/accuracy": 0.5 + seed / 10,
                                       "val/best_accuracy": 0.5 + seed / 10})
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def report(store: str, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    main(["--output", str(out), "--tracking-uri", store, "--claims", "C1,C3,C6,C7"])
    return out


def test_summary_lines_carry_the_verdicts(report) -> None:
    text = (report / "claims.md").read_text()
    summary = text.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(": ", 1)[0] for line in summary] == [
        "- C1 linear time", "- C3 inductive bias", "- C6 recall", "- C7 sampling-rate change"]
    assert summary[0].startswith("- C1 linear time: **holds**: in all 2 comparisons; the weakest: s4 ")
    assert summary[0].endswith("; 2 more without enough runs, not judged (25 of 132 expected runs so far)")
    assert summary[1] == ("- C3 inductive bias: **depends on the dataset**: long-horizon forecasting: "
                          "holds on ETTh1; fails on Exchange; not decided: no runs yet for series data "
                          "efficiency at horizon 96, no runs yet for audio data efficiency "
                          "(12 of 915 expected runs so far)")
    assert summary[2] == ("- C6 recall: **not enough seeds (2)**: none of 1 comparison(s) has enough runs "
                          "(4 of 180 expected runs so far)")
    assert summary[3] == "- C7 sampling-rate change: **no runs yet**"


def test_sections_list_exponents_differences_missing_runs_and_plots(report) -> None:
    text = (report / "claims.md").read_text()
    assert "| s4          | step time (s)       | 1.00 [1.00, 1.00]       | 16384-65536" in text
    assert "| transformer | step time (s)       | 2.00 [2.00, 2.00]" in text
    assert "- transformer ran out of memory at L 131072" in text
    assert "- no runs for model mamba2\n- no runs for L 1024, 2048, 4096, 8192, 262144, 524288, 1048576\n" \
        in text
    assert "- model mamba, L 16384: seed(s) 3\n" in text
    assert "- no runs for dataset ETTh2, ETTm1, ILI\n" in text
    assert "- 1 older run(s) of a seed run again left out (the latest counts)" in text
    assert "| model - baseline    | dataset  | horizon |" in text
    exchange = next(line for line in text.splitlines() if line.startswith("| mamba - transformer | Exchange"))
    assert [cell.strip() for cell in exchange.split("|")[1:-1]] == [
        "mamba - transformer", "Exchange", "96", "+0.05 [0.0475, 0.0525] (n=3)", "0.00027", "fails"]
    assert "![long-horizon forecasting](c3-ltsf.png)" in text
    progress = text.split("## Progress\n\n", 1)[1].split("\n## ", 1)[0].splitlines()
    assert [cell.strip() for cell in progress[0].split("|")[1:-1]] == [
        "claim", "study", "runs counted", "expected", "still missing", "made by"]
    c7 = next(line for line in progress if "FSDD trained at 8 kHz" in line)
    assert [cell.strip() for cell in c7.split("|")[1:-1]] == [
        "C7", "FSDD trained at 8 kHz", "0", "27", "all", "`scripts/gpu/claims_c7.sh`"]
    goal = text.split("### quality goal: ", 1)[1].split("\n## ", 1)[0]
    etth1 = next(line for line in goal.splitlines() if line.startswith("| ETTh1"))
    assert [cell.strip() for cell in etth1.split("|")[1:-1]][:5] == [
        "ETTh1", "0.413", "-", "-", "no candidate with every horizon at 3 seeds yet"]
    assert ("### FSDD trained at 8 kHz\n\nExperiment `claims/c7-sampling-rate`: 0 run(s) counted.\n\n"
            "No runs yet.") in text


def test_csv_holds_the_means_and_intervals(report) -> None:
    table = pd.read_csv(report / "c3.csv")
    assert list(table.columns) == ["study", "metric", "model", "dataset", "horizon", "training fraction",
                                   "n", "mean", "lo", "hi"]
    row = table[(table["model"] == "mamba") & (table["dataset"] == "ETTh1")].iloc[0]
    half = T2 * 0.011 / math.sqrt(3)  # values 0.36, 0.37, 0.38 + 0.001 * (seed - 2): std 0.011
    assert (row["study"], row["metric"], row["horizon"], row["n"]) == (
        "long-horizon forecasting", "test/mse", 96, 3)
    assert row["mean"] == pytest.approx(0.37, abs=1e-12)
    assert (row["lo"], row["hi"]) == pytest.approx((0.37 - half, 0.37 + half), abs=1e-12)
    c1 = pd.read_csv(report / "c1.csv")
    s4 = c1[(c1["model"] == "s4") & (c1["metric"] == "train/step_s") & (c1["L"] == 2 ** 14)].iloc[0]
    assert s4["mean"] == pytest.approx(1e-9 * 2 ** 14 * 1.02, rel=1e-12)
    assert len(c1) == 2 * 3 * 3  # two metrics x s4, mamba, transformer x three lengths
    assert pd.read_csv(report / "c7.csv").empty


def test_runs_counted_are_exported_one_row_per_run(report) -> None:
    assert sorted(path.name for path in (report / "runs").iterdir()) == [
        "c1-linear-time.csv", "c3-ltsf.csv", "c6-recall.csv"]
    runs = pd.read_csv(report / "runs" / "c3-ltsf.csv")
    mamba = runs[(runs["model"] == "mamba") & (runs["dataset"] == "ETTh1")].sort_values("seed")
    assert list(mamba["seed"]) == [1, 2, 3]
    assert list(mamba["test/mse"]) == pytest.approx([0.359, 0.37, 0.381], abs=1e-12)
    assert pd.read_csv(report / "c3.csv").query("model == 'mamba' and dataset == 'ETTh1'")["mean"].iloc[0] \
        == pytest.approx(mamba["test/mse"].mean(), abs=1e-12)


def test_plots_are_written_for_studies_with_runs(report) -> None:
    written = sorted(path.name for path in report.glob("*.png"))
    assert written == ["c1-linear-time.png", "c3-ltsf.png", "c6-recall.png"]
    for name in written:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(report.glob(".*"))  # no temporary file left behind


def test_empty_store_reports_no_runs_for_every_claim(tmp_path, capsys) -> None:
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # creates the database's tables
    main(["--output", str(tmp_path / "out"), "--tracking-uri", uri])
    text = (tmp_path / "out" / "claims.md").read_text()
    assert text.count("**no runs yet**") == 2 * 7  # in the summary and in each claim's section
    assert capsys.readouterr().out.count(": no runs yet\n") == 7


def test_readme_block_is_replaced_by_the_summary_and_the_rest_kept(store, tmp_path, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_bytes(b"# Project\r\n\n<!-- claims summary -->\n- stale line\n"
                       b"<!-- /claims summary -->\n\nAfter.\r\n")
    main(["--output", str(tmp_path / "out"), "--tracking-uri", store, "--claims", "C1,C3",
          "--readme", str(readme)])
    report = (tmp_path / "out" / "claims.md").read_text()
    summary = report.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0]
    assert summary.startswith("- C1 linear time: ") and summary.count("\n") == 1
    assert readme.read_bytes() == (b"# Project\r\n\n<!-- claims summary -->\n" + summary.encode()
                                   + b"\n<!-- /claims summary -->\n\nAfter.\r\n")
    assert capsys.readouterr().out.endswith(f"; the summary into {readme}\n")


@pytest.mark.parametrize("text", ["no markers\n",
                                  "<!-- /claims summary -->\n<!-- claims summary -->\n",
                                  "<!-- claims summary -->\n<!-- claims summary -->\n"
                                  "<!-- /claims summary -->\n"])
def test_a_readme_without_one_pair_of_markers_is_refused_before_the_report(store, tmp_path, text,
                                                                           capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path / "out"), "--tracking-uri", store, "--readme", str(readme)])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1
    assert error.startswith(f"error: {readme} must hold one '<!-- claims summary -->' line")
    assert readme.read_text() == text and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--claims", "C1,C9"], "error: argument --claims: unknown claim(s) ['C9'] in --claims; choose from "
                            "C1,C2,C3,C4,C5,C6,C7\n"),
    (["--tracking-uri", "sqlite:///{tmp}/absent.db"], "error: no MLflow store at {tmp}/absent.db"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys) -> None:
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(["--output", str(tmp_path / "out"), *argv])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert error.startswith(message.format(tmp=tmp_path)) and error.count("\n") == 1
    assert not (tmp_path / "absent.db").exists()


def test_a_report_from_its_own_exports_alone_is_the_same_report(report, tmp_path) -> None:
    again = tmp_path / "again"
    main(["--output", str(again), "--runs", str(report / "runs"), "--claims", "C1,C3,C6,C7"])
    store_note = "\n\nNotes:\n\n- 1 older run(s) of a seed run again left out (the latest counts)"
    assert (again / "claims.md").read_text() == (report / "claims.md").read_text().replace(store_note, "")
    for name in ("c1.csv", "c3.csv", "c6.csv", "runs/c1-linear-time.csv", "runs/c3-ltsf.csv",
                 "runs/c6-recall.csv"):
        assert (again / name).read_bytes() == (report / name).read_bytes(), name


def test_exported_runs_count_beside_the_store_and_its_runs_supersede_them(store, report, tmp_path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    runs = pd.read_csv(report / "runs" / "c3-ltsf.csv")
    mamba = runs["model"] == "mamba"
    runs.loc[mamba, "test/mse"] = 9.0  # superseded by the store's runs; the transformer's are theirs
    etth2 = pd.DataFrame({"model": ["transformer"] * 3, "dataset": "ETTh2", "horizon": 96,
                          "seed": [1, 2, 3], "test/mse": [0.3, 0.31, 0.32]})
    pd.concat([runs, etth2]).to_csv(exports / "c3-ltsf.csv", index=False)
    out = tmp_path / "out"
    main(["--output", str(out), "--tracking-uri", store, "--runs", str(exports), "--claims", "C3"])
    counted = pd.read_csv(out / "runs" / "c3-ltsf.csv")
    assert len(counted) == len(runs) + 3
    assert counted.query("model == 'mamba'")["test/mse"].max() < 1
    assert list(counted.query("dataset == 'ETTh2'")["test/mse"]) == [0.3, 0.31, 0.32]
    text = (out / "claims.md").read_text()
    assert f"- {int(mamba.sum())} exported run(s) superseded by the store's run of the same " \
           "model, conditions and seed" in text
    assert "- no runs for dataset ETTm1, ILI\n" in text
