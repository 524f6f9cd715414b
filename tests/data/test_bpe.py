"""The BPE view: lossless bytes, byte accounting identical to the byte view, training on train only, caching."""

from pathlib import Path

import pytest
import torch

from tsssm.data.bpe import BPEDataModule
from tsssm.data.bpe_tokenizer import ByteLevelBPE, byte_alphabet, cached_tokenizer, text_segments
from tsssm.data.bytes import ByteDataModule, split_corpus
from tsssm.data.files import DataFileError

# 1010 bytes: the 90/5/5 borders (909 and 959) fall inside two-byte "é"s (bytes 400-999); the last byte
# is not UTF-8.
KNOWN_BYTES = ("the cat sat on the mat; " * 16 + "x" * 16 + "é" * 300 + "\nthe end.").encode() + b"\xff"


def _bpe(tmp_path: Path, path: Path, vocab_size: int = 300, **options) -> BPEDataModule:
    module = BPEDataModule(name=None, path=path, vocab_size=vocab_size, cache_dir=tmp_path / "cache", **options)
    module.setup("fit")
    return module


def _scored_units(loader) -> tuple[float, int]:
    """Total units and number of scored positions over a loader."""
    units, scored = 0.0, 0
    for batch in loader:
        assert torch.equal(batch["units"] > 0, batch["target"] != -100)
        units += float(batch["units"].sum())
        scored += int((batch["target"] != -100).sum())
    return units, scored


def test_byte_and_bpe_views_score_the_same_bytes(tmp_path: Path) -> None:
    assert len(KNOWN_BYTES) == 1010
    path = tmp_path / "known.bin"
    path.write_bytes(KNOWN_BYTES)
    parts = split_corpus(KNOWN_BYTES, "known")
    assert parts["val"][:1] == b"\xa9" and parts["test"][:1] == b"\xa9"
    byte_view = ByteDataModule(name=None, path=path, seq_len=8, batch_size=4)
    byte_view.setup("fit")
    bpe_view = _bpe(tmp_path, path, seq_len=8, batch_size=4)
    for split, loaders in (("val", "val_dataloader"), ("test", "test_dataloader")):
        byte_units, byte_scored = _scored_units(getattr(byte_view, loaders)())
        bpe_units, bpe_scored = _scored_units(getattr(bpe_view, loaders)())
        assert byte_units == bpe_units == len(parts[split]) - 1 == byte_scored
        assert bpe_scored < byte_scored
        stream = bpe_view.datasets[split].stream
        assert bpe_view.decode(stream) == parts[split]
    assert bpe_view.decode(bpe_view.datasets["train"].stream) == parts["train"]


def test_encoding_is_lossless_on_any_bytes(tmp_path: Path) -> None:
    bpe = ByteLevelBPE.train(["the cat sat on the mat " * 20, "naïve café"], vocab_size=280)
    for data in (b"", b"\x00\xff\xfe", "東京 naïve\n".encode()[:-3], bytes(range(256)), KNOWN_BYTES):
        ids = bpe.encode_bytes(data)
        assert bpe.decode(ids) == data
        assert int(bpe.unit_table[ids].sum()) == len(data)
    assert bpe.decode(bpe.encode_text("the cat sat")) == b"the cat sat"
    assert len(bpe.encode_text("the cat sat")) < len("the cat sat")
    assert sorted(byte_alphabet()) == sorted(set(byte_alphabet())) and len(byte_alphabet()) == 256


def test_text_segments_keep_every_byte_in_order() -> None:
    data = ("ab\n" * 40000).encode() + b"\xc3" + "é".encode() * 3
    segments = list(text_segments(data))
    rebuilt = b"".join(seg.encode() if isinstance(seg, str) else bytes([seg]) for seg in segments)
    assert rebuilt == data and 0xC3 in segments and len(segments) > 2


def test_tokenizer_learns_from_train_only_and_is_cached(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes(KNOWN_BYTES)
    second.write_bytes(KNOWN_BYTES[:909] + b"x" * 101)
    one, two = _bpe(tmp_path, first), _bpe(tmp_path, second)
    assert one.tokenizer.fingerprint == two.tokenizer.fingerprint
    assert len(list((tmp_path / "cache").glob("bpe-300-*.json"))) == 1
    assert not list((tmp_path / "cache").glob(".*.part"))
    _bpe(tmp_path, first, vocab_size=280)
    assert len(list((tmp_path / "cache").glob("bpe-*.json"))) == 2
    again = _bpe(tmp_path, first)
    assert torch.equal(again.datasets["val"].stream, one.datasets["val"].stream)


def test_tinyshakespeare_slice_attributes(tmp_path: Path, shared_data: Path) -> None:
    path = tmp_path / "shakespeare.txt"
    path.write_bytes((shared_data / "text" / "tinyshakespeare_input.txt").read_bytes()[:60_000])
    module = _bpe(tmp_path, path, vocab_size=512, seq_len=64)
    assert (module.vocab_size, module.unit, module.seq_len, module.dataset_name) == (512, "byte", 64, path.name)
    assert module.tokenizer.vocab_size == 512
    units, _ = _scored_units(module.val_dataloader())
    assert units == 60_000 * 95 // 100 - 60_000 * 90 // 100 - 1
    assert module.decode(module.encode("First Citizen:")) == b"First Citizen:"
    assert float(module.tokenizer.unit_table.mean()) > 1.5


def test_cache_errors_name_the_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(DataFileError, match="cannot write the BPE cache file .*not_a_folder.*set data.cache_dir"):
        cached_tokenizer(KNOWN_BYTES, 300, blocker / "bpe")
    (tmp_path / "cache").mkdir()
    cached_tokenizer(KNOWN_BYTES, 300, tmp_path / "cache")
    for cached in (tmp_path / "cache").glob("bpe-*.json"):
        cached.write_text("{not json")
    with pytest.raises(DataFileError, match="is unreadable"):
        cached_tokenizer(KNOWN_BYTES, 300, tmp_path / "cache")
    with pytest.raises(ValueError, match="vocab_size of a byte-level BPE must be an integer >= 256"):
        BPEDataModule(vocab_size=100)
