"""Locating, verifying and downloading data files (file:// URLs stand in for the network)."""

import hashlib
import logging
import os
from pathlib import Path

import pytest

from tsssm.data import files
from tsssm.data.files import ChecksumError, DataFileError, data_root, locate, sha256_of
from tsssm.data.registry import FileSource, StoredFile

CONTENT = b"date,a,OT\n2020-01-01,1.0,2.0\n"
CONTENT_SHA = hashlib.sha256(CONTENT).hexdigest()


def _published(tmp_path: Path) -> str:
    """A 'public' copy of CONTENT outside the data root, served by a file:// URL."""
    origin = tmp_path / "origin" / "table.csv"
    origin.parent.mkdir()
    origin.write_bytes(CONTENT)
    return origin.as_uri()


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TSSSM_DATA", raising=False)
    assert data_root() == Path("data")
    monkeypatch.setenv("TSSSM_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root(tmp_path / "other") == tmp_path / "other"


def test_locate_finds_any_copy_and_verifies(tmp_path: Path) -> None:
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "table.csv.gz").write_bytes(CONTENT)
    source = FileSource(
        copies=(StoredFile("set/table.csv", "0" * 64), StoredFile("set/table.csv.gz", CONTENT_SHA)),
        url=None,
    )
    assert locate(source, "demo", tmp_path) == tmp_path / "set" / "table.csv.gz"


def test_checksum_mismatch_names_file_and_both_hashes(tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_bytes(CONTENT + b"tampered\n")
    expected = "ab" * 32
    source = FileSource(copies=(StoredFile("table.csv", expected),), url="https://example.org/table.csv")
    with pytest.raises(ChecksumError) as error:
        locate(source, "demo", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "table.csv") in message
    assert expected in message
    assert hashlib.sha256(CONTENT + b"tampered\n").hexdigest() in message


def test_offline_missing_file_names_path_and_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TSSSM_OFFLINE", "1")
    url = _published(tmp_path)
    source = FileSource(copies=(StoredFile("set/table.csv", CONTENT_SHA),), url=url)
    with pytest.raises(DataFileError) as error:
        locate(source, "demo", tmp_path / "root")
    message = str(error.value)
    assert "'demo'" in message and "TSSSM_OFFLINE" in message
    assert str((tmp_path / "root" / "set" / "table.csv").resolve()) in message
    assert url in message
    assert not (tmp_path / "root" / "set" / "table.csv").exists()


def test_download_lands_atomically_at_first_copy(tmp_path: Path) -> None:
    source = FileSource(
        copies=(StoredFile("set/table.csv", CONTENT_SHA), StoredFile("set/table.csv.gz", None)),
        url=_published(tmp_path),
    )
    root = tmp_path / "root"
    path = locate(source, "demo", root)
    assert path == root / "set" / "table.csv"
    assert path.read_bytes() == CONTENT
    assert os.listdir(root / "set") == ["table.csv"]


def test_download_with_wrong_hash_saves_nothing(tmp_path: Path) -> None:
    source = FileSource(copies=(StoredFile("set/table.csv", "cd" * 32),), url=_published(tmp_path))
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match="cd" * 32):
        locate(source, "demo", root)
    assert os.listdir(root / "set") == []


def test_download_failure_names_dataset_path_and_url(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.csv").as_uri()
    source = FileSource(copies=(StoredFile("set/table.csv", None),), url=url)
    with pytest.raises(DataFileError) as error:
        locate(source, "demo", tmp_path / "root")
    message = str(error.value)
    assert "download of dataset 'demo' failed" in message
    assert url in message and str((tmp_path / "root" / "set" / "table.csv").resolve()) in message


def test_unknown_hash_download_logs_computed_hash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = FileSource(copies=(StoredFile("table.csv", None),), url=_published(tmp_path))
    with caplog.at_level(logging.WARNING, logger="tsssm.data.files"):
        locate(source, "demo", tmp_path / "root")
    assert CONTENT_SHA in caplog.text


def test_missing_file_without_url_says_where_to_put_it(tmp_path: Path) -> None:
    source = FileSource(copies=(StoredFile("a/b.csv", None),), url=None)
    with pytest.raises(DataFileError, match="put the file for dataset 'demo' at"):
        locate(source, "demo", tmp_path)


def test_each_file_is_hashed_once_per_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []
    real_hash = files._hash_file
    monkeypatch.setattr(files, "_hash_file", lambda path: calls.append(path) or real_hash(path))
    path = tmp_path / "table.csv"
    path.write_bytes(CONTENT)
    assert sha256_of(path) == sha256_of(path) == CONTENT_SHA
    assert len(calls) == 1
    path.write_bytes(CONTENT + b"more\n")
    assert sha256_of(path) == hashlib.sha256(CONTENT + b"more\n").hexdigest()
    assert len(calls) == 2
