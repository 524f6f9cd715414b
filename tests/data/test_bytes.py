"""Byte corpora: the 90/5/5 split, windows that score every byte once, random training windows, checks."""

import zipfile
from pathlib import Path

import pytest
import torch

from tsssm.data.bytes import ByteDataModule, split_corpus
from tsssm.data.files import DataFileError
from tsssm.data.sequence import RandomWindowSampler, StreamWindows

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler — naïve café 東京.\n" * 9


def _corpus(tmp_path: Path, data: bytes = TEXT.encode()) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    return path


def _scored_targets(loader) -> list[int]:
    targets = []
    for batch in loader:
        assert torch.equal(batch["units"] > 0, batch["target"] != -100)
        assert torch.all(batch["units"][batch["target"] != -100] == 1.0)
        targets += batch["target"][batch["target"] != -100].tolist()
    return targets


def test_split_is_contiguous_90_5_5() -> None:
    parts = split_corpus(bytes(range(200)), "demo")
    assert [len(part) for part in parts.values()] == [180, 10, 10]
    assert b"".join(parts.values()) == bytes(range(200))
    with pytest.raises(ValueError, match="corpus demo of 20 bytes is too small: its val split has 1"):
        split_corpus(bytes(20), "demo")


@pytest.mark.parametrize("seq_len", [1, 7, 64])
def test_eval_loaders_score_every_byte_after_the_first_once(tmp_path: Path, seq_len: int) -> None:
    module = ByteDataModule(name=None, path=_corpus(tmp_path), seq_len=seq_len, batch_size=3)
    module.setup("fit")
    parts = split_corpus(TEXT.encode(), "demo")
    assert _scored_targets(module.val_dataloader()) == list(parts["val"][1:])
    assert _scored_targets(module.test_dataloader()) == list(parts["test"][1:])
    window = module.datasets["val"][0]
    scored = int((window["target"] != -100).sum())
    assert torch.equal(window["input"][1:scored], window["target"][: scored - 1])


def test_stream_windows_count_and_pad_the_last() -> None:
    windows = StreamWindows(torch.arange(11), seq_len=4, stride=4)
    assert len(windows) == 3
    assert windows[2]["input"].tolist() == [8, 9, 0, 0] and windows[2]["target"].tolist() == [9, 10, -100, -100]
    assert len(StreamWindows(torch.arange(11), seq_len=4, stride=1)) == 7


def test_train_windows_are_random_full_windows(tmp_path: Path) -> None:
    module = ByteDataModule(name=None, path=_corpus(tmp_path), seq_len=16, batch_size=8, train_windows=40)
    module.setup("fit")
    assert isinstance(module.train_dataloader().sampler, RandomWindowSampler)
    batches = list(module.train_dataloader())
    assert sum(len(batch["input"]) for batch in batches) == 40
    for batch in batches:
        assert torch.all(batch["target"] != -100) and torch.all(batch["units"] == 1.0)
        assert torch.equal(batch["input"][:, 1:], batch["target"][:, :-1])
    default = ByteDataModule(name=None, path=_corpus(tmp_path), seq_len=16)
    default.setup("fit")
    assert len(default.train_dataloader().sampler) == len(split_corpus(TEXT.encode(), "demo")["train"]) // 16


def test_tinyshakespeare_attributes_and_codec(shared_data: Path) -> None:
    module = ByteDataModule("tinyshakespeare", root=shared_data, seq_len=256)
    module.setup("fit")
    attributes = (module.vocab_size, module.unit, module.seq_len, module.dataset_name)
    assert attributes == (256, "byte", 256, "tinyshakespeare")
    assert [dataset.stream.shape[0] for dataset in module.datasets.values()] == [1003854, 55770, 55770]
    assert module.decode(module.encode("naïve\n")) == "naïve\n".encode()
    assert module.decode(module.datasets["train"][0]["input"][:14]) == b"First Citizen:"
    with pytest.raises(ValueError, match="byte ids must lie in"):
        module.decode(torch.tensor([1, 256]))


def test_enwik8_zip_is_read_and_its_size_checked(tmp_path: Path) -> None:
    (tmp_path / "text").mkdir()
    with zipfile.ZipFile(tmp_path / "text" / "enwik8.zip", "w") as archive:
        archive.writestr("enwik8", b"<mediawiki>" * 10)
    module = ByteDataModule("enwik8", root=tmp_path)
    with pytest.raises(DataFileError, match=r"enwik8.zip holds 110 bytes, expected 100000000"):
        module.setup("fit")


def test_offline_missing_corpus_says_where_to_put_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TSSSM_OFFLINE", "1")
    with pytest.raises(DataFileError) as error:
        ByteDataModule("enwik8", root=tmp_path).prepare_data()
    message = str(error.value)
    assert str((tmp_path / "text" / "enwik8.zip").resolve()) in message
    assert "http://mattmahoney.net/dc/enwik8.zip" in message and "TSSSM_OFFLINE" in message


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="give exactly one of name"):
        ByteDataModule(name=None)
    with pytest.raises(ValueError, match="seq_len must be a positive integer, got 0"):
        ByteDataModule(seq_len=0)
    with pytest.raises(ValueError, match="'fsdd' is of kind 'audio', not a byte corpus"):
        ByteDataModule("fsdd")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        RandomWindowSampler(10, 0)
