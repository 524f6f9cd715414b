"""The registry: its entries, its checksums against the real staged files, and its lookup errors."""

from pathlib import Path

import pytest

from tsssm.data.audio_folder import verify_folder
from tsssm.data.files import DataFileError, locate
from tsssm.data.registry import (
    REGISTRY,
    AudioFolderSpec,
    CorpusSpec,
    TabularSpec,
    get_spec,
    get_spec_of_type,
    get_tabular_spec,
)

LTSF_NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", "Exchange", "ILI", "Electricity", "Traffic")


def test_every_ltsf_dataset_is_registered_with_a_source() -> None:
    for name in LTSF_NAMES:
        spec = get_tabular_spec(name)
        assert spec.source is not None and spec.source.url.startswith("https://raw.githubusercontent.com/")
        assert spec.n_rows is not None and spec.n_vars is not None


def test_files_without_a_known_hash_are_the_five_unverified_ones() -> None:
    unhashed = {
        spec.name
        for spec in REGISTRY.values()
        if spec.source is not None and any(copy.sha256 is None for copy in spec.source.copies)
    }
    assert unhashed == {"ETTm2", "Weather", "Electricity", "Traffic", "enwik8"}
    enwik8 = get_spec_of_type("enwik8", CorpusSpec, "a byte corpus")
    assert enwik8.n_bytes == 10**8 and enwik8.member == "enwik8"


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


@pytest.mark.parametrize("name", ["tinyshakespeare", "enwik6"])
def test_corpus_hashes_match_the_staged_files(name: str, shared_data: Path) -> None:
    spec = get_spec_of_type(name, CorpusSpec, "a byte corpus")
    path = locate(spec.source, name, shared_data)
    assert path.stat().st_size == spec.n_bytes


def test_fsdd_listing_hash_pins_the_staged_recordings(shared_data: Path) -> None:
    spec = get_spec_of_type("fsdd", AudioFolderSpec, "an audio folder")
    assert len(spec.file_names) == 3000 and spec.sample_rate == 8000 and spec.split == "fsdd_takes"
    assert spec.url_prefix.endswith("26eb9aaf76e81b692f806f9140c2d2777410d7a1/recordings")
    verify_folder(spec, shared_data)


def test_every_file_dataset_names_a_public_source() -> None:
    for spec in REGISTRY.values():
        if isinstance(spec, AudioFolderSpec):
            assert spec.url_prefix.startswith("https://") and spec.listing_sha256 is not None
        elif spec.source is not None:
            assert spec.source.url.startswith(("https://", "http://mattmahoney.net/"))


def test_wrong_kind_and_unknown_names_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="'ETTh1' is of kind 'tabular', not an audio folder"):
        get_spec_of_type("ETTh1", AudioFolderSpec, "an audio folder")
    with pytest.raises(KeyError, match="unknown dataset 'enwik9'; known datasets: .*enwik8.*fsdd"):
        get_spec("enwik9")


@pytest.mark.parametrize(("name", "where"), [("tinyshakespeare", "text/tinyshakespeare_input.txt"),
                                             ("enwik6", "text/enwik6"), ("ETTh1", "ett/ETTh1.csv")])
def test_missing_dataset_offline_says_which_file_to_put_where(
    name: str, where: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TSSSM_OFFLINE", "1")
    spec = get_spec(name)
    with pytest.raises(DataFileError) as error:
        locate(spec.source, spec.name, tmp_path)
    message = str(error.value)
    assert f"put the file for dataset {name!r} at {(tmp_path / where).resolve()}" in message
    assert spec.source.url in message
