"""Prompts read and samples written in the form of the data's unit: audio, text or token ids."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tsssm.data.bytes import ByteDataModule
from tsssm.tasks.sample_formats import AudioSamples, IdSamples, TextSamples


def test_text_samples_escape_bytes_that_are_not_utf8():
    ids = torch.tensor(list("né".encode()) + [0xFF, ord("!")])
    assert TextSamples(ByteDataModule(name=None, path="unused")).text(ids) == "né\\xff!"


def test_a_text_prompt_is_cut_to_its_length_and_must_give_a_token():
    text = TextSamples(ByteDataModule(name=None, path="unused"))
    prompt = text.prompt("ROMEO:", prompt_length=3)
    assert prompt.ids.tolist() == list(b"ROM") and prompt.skip == 0
    assert text.prompt(None).ids.tolist() == [ord("\n")]
    with pytest.raises(ValueError, match="the prompt 'ROMEO:' gives no tokens"):
        text.prompt("ROMEO:", prompt_length=0)


def test_an_audio_prompt_starts_from_the_start_token_which_is_not_part_of_the_sample():
    prompt = AudioSamples(SimpleNamespace(start_token=128)).prompt(None)
    assert prompt.ids.tolist() == [128] and prompt.skip == 1
    assert AudioSamples(SimpleNamespace(sample_rate=8000)).shown(torch.zeros(2, 3)) == []


def test_id_samples_read_ids_in_the_vocabulary_and_write_them_as_text(tmp_path):
    ids = IdSamples(SimpleNamespace(vocab_size=16))
    assert ids.prompt("3 15 0").ids.tolist() == [3, 15, 0]
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 16\)"):
        ids.prompt("3 16")
    samples = torch.tensor([[1, 2], [3, 4]])
    assert ids.write(samples, tmp_path, "title") == [tmp_path / "sample_000.txt",
                                                     tmp_path / "sample_001.txt"]
    assert (tmp_path / "sample_001.txt").read_text() == "3 4"
    assert ids.shown(samples) == ["--- sample_000 ---\n1 2", "--- sample_001 ---\n3 4"]
