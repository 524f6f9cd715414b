"""forecast with engine=ray: the same table as the local run, from files spread over Ray workers
and from one long file whose series are split between them; workers' errors as the local run's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests import cli
from tsssm.data.synthetic import synthetic_frame
from tsssm.forecast import forecast_files
from tsssm.forecasting.work_units import WorkUnit, plan_units

ray = pytest.importorskip("ray")
SERIES = synthetic_frame(n_rows=300)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (two CPUs), shut down after it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def wide_folder(folder: Path, lengths: list[int]) -> Path:
    folder.mkdir()
    for i, length in enumerate(lengths):
        SERIES.iloc[:length].to_parquet(folder / f"plant{i}.parquet")
    return folder


def long_file(path: Path, lengths: list[int]) -> Path:
    pd.concat([SERIES.iloc[:length].rename(columns={"date": "ds"}).assign(unique_id=f"s{i}")
               for i, length in enumerate(lengths)]).to_csv(path, index=False)
    return path


def both(checkpoint, source: Path, tmp_path: Path, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    local = forecast_files(checkpoint, source, tmp_path / "local.csv", device="cpu", **options)
    on_ray = forecast_files(checkpoint, source, tmp_path / "ray.csv", device="cpu", engine="ray",
                            workers=2, **options)
    return local, on_ray


def test_a_long_file_is_split_by_series_and_a_folder_by_file(tmp_path):
    path = long_file(tmp_path / "stores.csv", [100, 120, 140, 160, 180])
    units = plan_units([path], "auto", 3)
    assert units == [WorkUnit(path, ("s0", "s1")), WorkUnit(path, ("s2", "s3")),
                     WorkUnit(path, ("s4",))]
    folder = wide_folder(tmp_path / "wide", [100, 120, 140])
    files = sorted(folder.iterdir())
    assert plan_units(files, "auto", 2) == [WorkUnit(p) for p in files]
    assert plan_units(files[:1], "auto", 4) == [WorkUnit(files[0])]  # a wide file: one series


def test_a_long_file_with_a_row_lacking_its_id_is_not_split(tmp_path):
    path = long_file(tmp_path / "stores.csv", [100, 120])
    frame = pd.read_csv(path)
    frame.loc[7, "unique_id"] = None
    frame.to_csv(path, index=False)
    assert plan_units([path], "auto", 2) == [WorkUnit(path)]


def test_ray_writes_the_local_table_for_a_folder_and_a_split_long_file(forecasters, local_ray,
                                                                       tmp_path):
    local, on_ray = both(forecasters["dlinear"], wide_folder(tmp_path / "wide", [100, 150, 200]),
                         tmp_path)
    pd.testing.assert_frame_equal(on_ray, local)
    assert pd.read_csv(tmp_path / "ray.csv").equals(pd.read_csv(tmp_path / "local.csv"))
    source = long_file(tmp_path / "stores.csv", [100, 120, 140])
    local, on_ray = both([forecasters["quantile"], forecasters["dlinear"]], source, tmp_path)
    # Split by series, a worker's batch holds fewer series than the local run's; an fp32 matmul's
    # row can round differently with the batch around it (by ~1e-7 on CPUs with AVX-512).
    pd.testing.assert_frame_equal(on_ray, local, check_exact=False, rtol=1e-5, atol=1e-6)
    assert list(on_ray["unique_id"].unique()) == [f"s{i}/x{c}" for i in range(3) for c in range(4)]
    assert list(on_ray.columns) == ["unique_id", "ds", "dlinear", "dlinear-lo-90", "dlinear-lo-80",
                                    "dlinear-hi-80", "dlinear-hi-90", "dlinear-2"]


def test_a_workers_error_is_the_local_runs_error(forecasters, local_ray, tmp_path):
    folder = wide_folder(tmp_path / "wide", [100, 150])
    SERIES.iloc[:20].to_parquet(folder / "short.parquet")
    with pytest.raises(ValueError) as local:
        forecast_files(forecasters["dlinear"], folder, tmp_path / "a.csv", device="cpu")
    with pytest.raises(ValueError) as on_ray:
        forecast_files(forecasters["dlinear"], folder, tmp_path / "b.csv", device="cpu",
                       engine="ray", workers=2)
    assert str(on_ray.value) == str(local.value)
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("options,message", [
    ({"engine": "spark"}, "engine must be one of ('local', 'ray'), got 'spark'"),
    ({"engine": "ray", "workers": 0}, "workers must be a positive integer, got 0"),
])
def test_bad_engine_settings_are_refused_before_any_work(forecasters, tmp_path, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        forecast_files(forecasters["dlinear"], long_file(tmp_path / "s.csv", [100]),
                       tmp_path / "out.csv", **options)


def test_the_command_line_runs_on_a_local_ray_instance(forecasters, tmp_path):
    source = wide_folder(tmp_path / "wide", [100, 150])
    done = cli.run_module("tsssm.forecast", [f"checkpoint={forecasters['dlinear']}",
                                             f"input={source}", "output=fc.csv", "device=cpu",
                                             "engine=ray", "workers=2"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 Ray workers" in done.stdout
    local = forecast_files(forecasters["dlinear"], source, tmp_path / "local.csv", device="cpu")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "fc.csv"), pd.read_csv(tmp_path / "local.csv"))
    assert list(local.columns) == ["unique_id", "ds", "dlinear"]
