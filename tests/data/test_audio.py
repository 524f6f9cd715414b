"""Audio clips: quantisers, the FSDD split and coverage on the real recordings, folder checks, bad files."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from tsssm.data.audio import AudioDataModule, cut_clips, fsdd_take
from tsssm.data.audio_folder import folder_listing, locate_folder
from tsssm.data.files import ChecksumError, DataFileError
from tsssm.data.quantize import LinearQuantizer, MuLawQuantizer, make_quantizer
from tsssm.data.registry import AudioFolderSpec
from tsssm.data.waveform import AudioFileError


def _write(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, subtype="PCM_16")
    return path


def _tone(n: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(np.arange(n) * 0.05)).astype(np.float32)


def _folder_module(folder: Path, **options) -> AudioDataModule:
    module = AudioDataModule(name=None, path=folder, sample_rate=8000, **options)
    module.setup("fit")
    return module


@pytest.mark.parametrize("quantizer", [MuLawQuantizer(8), LinearQuantizer(8), MuLawQuantizer(4)])
def test_quantizers_round_trip(quantizer) -> None:
    ids = torch.arange(quantizer.levels)
    assert torch.equal(quantizer.encode(quantizer.decode(ids)), ids)
    wave = torch.linspace(-1, 1, 1001)
    decoded = quantizer.decode(quantizer.encode(wave))
    assert decoded.dtype == torch.float32 and decoded.abs().max() <= 1.0
    assert quantizer.encode(torch.tensor([-3.0, 3.0])).tolist() == [0, quantizer.levels - 1]


def test_mu_law_is_fine_near_zero_and_silence_is_the_middle_id() -> None:
    mu_law, linear = make_quantizer("mu_law", 8), make_quantizer("linear", 8)
    assert mu_law.silence == linear.silence == 128
    assert abs(float(mu_law.decode(torch.tensor(128)))) < 1e-3
    quiet = torch.linspace(-0.01, 0.01, 201)
    mu_error = (mu_law.decode(mu_law.encode(quiet)) - quiet).abs().max()
    linear_error = (linear.decode(linear.encode(quiet)) - quiet).abs().max()
    assert mu_error < linear_error / 5
    grid = torch.linspace(-1, 1, 999)
    assert (linear.decode(linear.encode(grid)) - grid).abs().max() <= 1 / 255 + 1e-6


def test_quantizer_options_are_checked() -> None:
    with pytest.raises(ValueError, match="quantization must be one of"):
        make_quantizer("a_law", 8)
    with pytest.raises(ValueError, match="bits must be an integer in"):
        make_quantizer("mu_law", 1)


def test_fsdd_split_keeps_test_takes_out_of_train_and_val(shared_data: Path) -> None:
    module = AudioDataModule("fsdd", root=shared_data)
    files = module.split_files()
    takes = {split: {fsdd_take(path) for path in paths} for split, paths in files.items()}
    assert takes["test"] == set(range(5))
    assert takes["val"] == set(range(5, 10))
    assert takes["train"] == set(range(10, 50))
    assert {split: len(paths) for split, paths in files.items()} == {"train": 2400, "val": 300, "test": 300}
    assert len(files["train"]) + len(files["val"]) == 2700


def test_fsdd_training_fraction_keeps_the_latest_takes(shared_data: Path) -> None:
    files = AudioDataModule("fsdd", root=shared_data, train_fraction=0.05).split_files()
    assert {split: len(paths) for split, paths in files.items()} == {"train": 120, "val": 300, "test": 300}
    assert {fsdd_take(path) for path in files["train"]} == {48, 49}
    assert len({path.stem.rsplit("_", 1)[0] for path in files["train"]}) == 60, "every digit and speaker"


def test_fsdd_eval_loader_scores_every_test_sample_once(shared_data: Path) -> None:
    module = AudioDataModule("fsdd", root=shared_data, clip_length=4000, batch_size=64)
    module.setup("test")
    assert (module.vocab_size, module.unit, module.sample_rate, module.seq_len) == (256, "sample", 8000, 4000)
    index = pd.read_csv(shared_data / "fsdd" / "index.csv")
    scored = 0
    for batch in module.test_dataloader():
        assert batch["input"].shape == batch["target"].shape == batch["units"].shape
        assert torch.equal(batch["units"] > 0, batch["target"] != -100)
        scored += int(batch["units"].sum())
    assert scored == index.loc[index["split"] == "test", "n_samples"].sum()
    first = module.datasets["test"][0]
    wave, _ = sf.read(str(shared_data / "fsdd" / "recordings" / "0_george_0.wav"), dtype="float32")
    assert torch.equal(first["target"][: len(wave)], module.encode(torch.from_numpy(wave)))
    assert first["input"][0] == module.start_token and torch.equal(first["input"][1:10], first["target"][:9])


def test_long_recordings_become_consecutive_clips_and_short_ones_are_padded(tmp_path: Path) -> None:
    assert cut_clips([10, 3], 4).tolist() == [[0, 4], [4, 4], [8, 2], [10, 3]]
    wave = _tone(10)
    for name in ("a", "b", "c"):
        _write(tmp_path / f"{name}.wav", wave)
    module = _folder_module(tmp_path, clip_length=4, quantization="linear")
    clips = [module.datasets["train"][i] for i in range(3)]
    expected = module.encode(torch.from_numpy(wave))
    assert torch.equal(torch.cat([clip["target"] for clip in clips])[:10], expected)
    assert clips[2]["target"].tolist()[2:] == [-100, -100] and clips[2]["units"].tolist() == [1, 1, 0, 0]
    assert [clip["input"][0].item() for clip in clips] == [module.start_token] * 3


def test_a_folder_is_resampled_and_split_by_seed(tmp_path: Path) -> None:
    for i in range(40):
        _write(tmp_path / "sub" / f"{i}.flac", _tone(1600), rate=16000)
    module = _folder_module(tmp_path, clip_length=1000)
    files = module.split_files()
    assert {split: len(paths) for split, paths in files.items()} == {"train": 36, "val": 2, "test": 2}
    assert files == _folder_module(tmp_path, clip_length=1000).split_files()
    assert files != _folder_module(tmp_path, clip_length=1000, split_seed=1).split_files()
    assert int(module.datasets["test"][0]["units"].sum()) == 800
    faster = _folder_module(tmp_path, clip_length=1000, test_sample_rate=4000)
    assert int(faster.datasets["test"][0]["units"].sum()) == 400
    assert int(faster.datasets["val"][0]["units"].sum()) == 800
    assert module.dataset_name == tmp_path.name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 4), "cannot read audio file"),
        (lambda path: _write(path, np.zeros(0, dtype=np.float32)), "holds no samples"),
        (lambda path: _write(path, np.stack([_tone(100), _tone(100)], axis=1)), "has 2 channels"),
        (lambda path: _write(path, _tone(50)), "50 samples long at 8000 Hz, shorter than min_length 64"),
    ],
    ids=["corrupt", "empty", "stereo", "too-short"],
)
def test_bad_audio_files_are_errors_naming_the_file(tmp_path: Path, make, message: str) -> None:
    for name in ("a", "b"):
        _write(tmp_path / f"{name}.wav", _tone(100))
    bad = tmp_path / "bad.wav"
    make(bad)
    with pytest.raises(AudioFileError, match=message) as error:
        _folder_module(tmp_path, clip_length=64, min_length=64)
    assert str(bad) in str(error.value)


def _demo_spec(root: Path, origin: Path) -> AudioFolderSpec:
    """A three-file registry folder published at file:// `origin`, hashed from its files."""
    names = ("0_x_0.wav", "0_x_1.wav", "0_x_10.wav")
    for take, name in enumerate(names):
        _write(origin / name, _tone(100 + take))
    listing = folder_listing(origin, list(names)).replace(f"{origin.name}/", "clips/")
    return AudioFolderSpec(
        name="demo", kind="audio", source=None, description="three tones", folder="demo/clips", file_names=names,
        listing_sha256=hashlib.sha256(listing.encode()).hexdigest(), listing_path="demo/SHA256SUMS",
        url_prefix=origin.as_uri(), sample_rate=8000,
    )


def test_folder_is_downloaded_then_verified_by_its_listing(tmp_path: Path) -> None:
    spec = _demo_spec(tmp_path, tmp_path / "origin")
    paths = locate_folder(spec, tmp_path / "root")
    assert [path.read_bytes() for path in paths] == [(tmp_path / "origin" / p.name).read_bytes() for p in paths]
    (tmp_path / "root" / "demo" / "SHA256SUMS").write_text(folder_listing(paths[0].parent, list(spec.file_names)))
    paths[1].write_bytes(paths[0].read_bytes())
    with pytest.raises(ChecksumError, match="not the published ones.*these differ: clips/0_x_1.wav[.]"):
        locate_folder(spec, tmp_path / "root")


def test_offline_missing_fsdd_says_where_to_put_the_recordings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TSSSM_OFFLINE", "1")
    with pytest.raises(DataFileError) as error:
        AudioDataModule("fsdd", root=tmp_path).prepare_data()
    message = str(error.value)
    assert "TSSSM_OFFLINE" in message and "lacks 3000 of its 3000 files" in message
    assert str((tmp_path / "fsdd" / "recordings").resolve()) in message
    assert "Jakobovski/free-spoken-digit-dataset" in message
