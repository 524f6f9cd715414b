"""The registry: its entries, its checksums against the real staged files, and its lookup errors."""

from pathlib import Path

import pytest

from tsssm.data.files import locate
from tsssm.data.registry import REGISTRY, TabularSpec, get_spec, get_tabular_spec

LTSF_NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", "Exchange", "ILI", "Electricity", "Traffic")


def test_every_ltsf_dataset_is_registered_with_a_source() -> None:
    for name in LTSF_NAMES:
        spec = get_tabular_spec(name)
        assert spec.source is not None and spec.source.url.startswith("https://raw.githubusercontent.com/")
        assert spec.n_rows is not None and spec.n_vars is not None


def test_files_without_a_known_hash_are_the_four_unverified_ones() -> None:
    unhashed = {
        spec.name
        for spec in REGISTRY.values()
        if spec.source is not None and any(copy.sha256 is None for copy in spec.source.copies)
    }
    assert unhashed == {"ETTm2", "Weather", "Electricity", "Traffic"}


@pytest.mark.parametrize("name", ["ETTh1", "ETTh2", "ETTm1", "Exchange", "ILI"])
def test_recorded_hashes_match_the_staged_files(name: str, shared_data: Path) -> None:
    spec = get_spec(name)
    path = locate(spec.source, name, shared_data)
    assert path.is_file() and path.is_relative_to(shared_data)


def test_lookup_is_case_insensitive_and_unknown_names_list_the_known() -> None:
    assert get_spec("etth1").name == "ETTh1"
    with pytest.raises(KeyError, match="ETTh1, ETTh2"):
        get_spec("ETTh3")


def test_split_rules_and_periods() -> None:
    assert get_tabular_spec("ETTh2").split == "ett_hour"
    assert get_tabular_spec("ETTm2").split == "ett_minute"
    assert get_tabular_spec("ETTm1").seasonal_period == 96
    ratio = [spec.name for spec in REGISTRY.values() if isinstance(spec, TabularSpec) and spec.split == "ratio"]
    assert sorted(ratio) == sorted(["Weather", "Exchange", "ILI", "Electricity", "Traffic", "synthetic"])
