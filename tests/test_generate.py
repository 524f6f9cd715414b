"""``tsssm.generate`` end to end on tiny checkpoints trained here: audio (S4D on four FSDD
recordings), bytes (Mamba on tinyshakespeare) and MQAR (Mamba). Samples come out as WAV + PNG,
UTF-8 text and ids; generation.json holds speed and memory; the files are logged to the run that
trained the checkpoint; overrides reach the rebuilt model; bad inputs fail with clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from tests import cli
from tests.checkpoints import DATA, edited_checkpoint
from tests.compose import compose_fit
from tsssm.data.waveform import AudioFileError, read_mono
from tsssm.generate import generate
from tsssm.mixers.s4 import S4
from tsssm.run.checkpoint import CheckpointError, load_task
from tsssm.run.record import RECORD_KEY
from tsssm.tasks.language_model import LanguageModelTask


def generate_with(checkpoint: Path, output: Path, *overrides: str) -> dict:
    """``python -m tsssm.generate checkpoint=... output=... OVERRIDES``, in process, on the CPU
    unless OVERRIDES name a device."""
    device = [] if any(o.startswith("device=") for o in overrides) else ["device=cpu"]
    return generate(compose_fit(output, [f"checkpoint={checkpoint}", f"output={output}", *device,
                                         *overrides], "generate"))


def load_sequence_model(checkpoint: Path, overrides: dict | None = None):
    """The checkpoint's language model task and data module, as generate loads them."""
    loaded = load_task(checkpoint, overrides, expect=LanguageModelTask, stage="predict")
    return loaded.datamodule, loaded.task


@pytest.fixture(scope="module")
def audio_run(trained, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("audio_samples")
    return output, generate_with(trained["audio"], output, "n=2", "length=200")


def test_audio_samples_are_16_bit_wavs_with_spectrograms(audio_run):
    output, result = audio_run
    for index in range(2):
        info = sf.info(output / f"sample_{index:03d}.wav")
        assert (info.samplerate, info.frames, info.channels) == (8000, 200, 1)
        assert info.subtype == "PCM_16"
        assert (output / f"sample_{index:03d}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(output.glob(".*")), "no temporary files are left behind"
    assert result["sample_rate"] == 8000 and result["prompt_tokens"] == 1


def test_generation_json_reports_speed_and_memory(audio_run):
    output, result = audio_run
    report = json.loads((output / "generation.json").read_text())
    assert report["generated_tokens"] == 2 * 200
    assert report["tokens_per_s"] == pytest.approx(400 / report["seconds"])
    assert report["tokens_per_s"] > 0
    memory = report["memory"]
    assert memory["state_bytes"] > 0 and memory["peak_bytes"] > memory["state_bytes"]
    assert "ru_maxrss" in memory["peak_source"]
    assert report["samples"] == ["sample_000.wav", "sample_000.png", "sample_001.wav",
                                 "sample_001.png"]


def test_samples_are_logged_to_the_training_run(trained, audio_run):
    _, result = audio_run
    run_id = torch.load(trained["audio"], weights_only=False)[RECORD_KEY]["run_id"]
    folder = result["training_run"]["artifact_path"]
    assert re.fullmatch(r"samples/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}Z", folder)
    client = mlflow.MlflowClient(trained["uri"])
    logged = {a.path for a in client.list_artifacts(run_id, folder)}
    assert logged == {f"{folder}/{name}" for name in
                      ("sample_000.wav", "sample_000.png", "sample_001.wav", "sample_001.png",
                       "generation.json")}
    assert run_id in result["mlflow"] and result["mlflow"].startswith("logged 5 files")


def test_each_call_logs_its_samples_in_a_folder_of_its_own(trained, tmp_path):
    first = generate_with(trained["bytes"], tmp_path / "first", "n=1", "length=4")
    second = generate_with(trained["bytes"], tmp_path / "second", "n=1", "length=4")
    folders = [result["training_run"]["artifact_path"] for result in (first, second)]
    assert folders[0] != folders[1]
    run_id = torch.load(trained["bytes"], weights_only=False)[RECORD_KEY]["run_id"]
    client = mlflow.MlflowClient(trained["uri"])
    logged = {a.path for a in client.list_artifacts(run_id, "samples")}
    assert set(folders) <= logged
    for folder in folders:
        assert f"{folder}/generation.json" in {a.path for a in client.list_artifacts(run_id, folder)}


def test_an_audio_prompt_starts_the_sample(trained, tmp_path):
    prompt = DATA / "fsdd" / "recordings" / "7_george_3.wav"
    generate_with(trained["audio"], tmp_path, f"prompt={prompt}", "prompt_length=100", "n=1",
                  "length=20")
    wave, rate = sf.read(tmp_path / "sample_000.wav", dtype="float32")
    assert rate == 8000 and wave.shape == (120,)
    datamodule, _ = load_sequence_model(trained["audio"])
    expected = datamodule.decode(datamodule.encode(read_mono(prompt, 8000)[:100]))
    np.testing.assert_allclose(wave[:100], expected.numpy(), atol=1 / 16384)


def test_overrides_reach_the_s4_mixers_and_the_sample_rate(trained, tmp_path):
    rate_half = {"model": {"backbone": {"mixers": {"s": {"rate": 0.5}}}}}
    _, task = load_sequence_model(trained["audio"], rate_half)
    mixers = [m for m in task.net.modules() if isinstance(m, S4)]
    assert mixers and all(m.rate == 0.5 for m in mixers)
    _, task = load_sequence_model(trained["audio"])
    assert all(m.rate == 1.0 for m in task.net.modules() if isinstance(m, S4))
    generate_with(trained["audio"], tmp_path, "n=1", "length=50",
                  "+overrides.data.sample_rate=16000", "+overrides.model.backbone.mixers.s.rate=0.5")
    info = sf.info(tmp_path / "sample_000.wav")
    assert (info.samplerate, info.frames) == (16000, 50)
    assert json.loads((tmp_path / "generation.json").read_text())["overrides"] == {
        "data": {"sample_rate": 16000}, **rate_half}


def test_text_samples_are_utf8_with_undecodable_bytes_escaped(trained, tmp_path, capsys):
    generate_with(trained["bytes"], tmp_path, "n=2", "length=64", "prompt=ROMEO:")
    texts = [(tmp_path / f"sample_{i:03d}.txt").read_bytes().decode("utf-8") for i in range(2)]
    assert all(text.startswith("ROMEO:") for text in texts)
    assert any("\\x" in text for text in texts), "a barely trained byte model emits invalid UTF-8"
    printed = capsys.readouterr().out
    assert all(text in printed for text in texts)


def test_temperature_zero_is_deterministic(trained, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    generate_with(trained["bytes"], first, "n=2", "length=40", "temperature=0", "seed=1")
    generate_with(trained["bytes"], second, "n=2", "length=40", "temperature=0", "seed=2")
    texts = [(folder / f"sample_{i:03d}.txt").read_text() for folder in (first, second)
             for i in range(2)]
    assert len(set(texts)) == 1 and len(texts[0].encode()) >= 41


def test_recall_samples_are_token_ids_after_the_first_query(trained, tmp_path):
    result = generate_with(trained["mqar"], tmp_path, "n=1", "length=3")
    ids = [int(word) for word in (tmp_path / "sample_000.txt").read_text().split()]
    datamodule, _ = load_sequence_model(trained["mqar"])
    example = datamodule.datasets["test"][0]
    first_query = int((example["target"] != -100).nonzero()[0, 0])
    assert ids[:-3] == example["input"][: first_query + 1].tolist()
    assert len(ids) == result["prompt_tokens"] + 3 and all(0 <= i < 16 for i in ids)


def test_a_store_that_is_not_there_is_reported_not_created(trained, tmp_path):
    missing = tmp_path / "elsewhere" / "mlflow.db"
    moved = edited_checkpoint(trained["bytes"], tmp_path / "moved.ckpt",
                              lambda record: record.update(tracking_uri=f"sqlite:///{missing}"))
    result = generate_with(moved, tmp_path / "out", "n=1", "length=2")
    assert result["mlflow"].startswith("not logged to MLflow") and str(missing) in result["mlflow"]
    assert not missing.exists()


def test_the_cli_writes_samples(trained, tmp_path):
    result = cli.run_module(
        "tsssm.generate", [f"checkpoint={trained['bytes']}", "n=1", "length=8", "prompt='To be'",
                           "temperature=0", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
        tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "sample_000.txt").read_text().startswith("To be")
    assert "tokens/s" in result.stdout and "logged 2 files to MLflow run" in result.stdout


@pytest.mark.gpu
def test_generation_on_the_gpu_reports_cuda_memory(trained, tmp_path):
    result = generate_with(trained["bytes"], tmp_path, "n=2", "length=64", "device=cuda")
    assert result["device"] == "cuda" and result["generated_tokens"] == 128
    memory = result["memory"]
    assert memory["peak_source"] == "torch.cuda.max_memory_allocated"
    assert memory["peak_bytes"] >= memory["state_bytes"] > 0
    assert all(len((tmp_path / f"sample_{i:03d}.txt").read_bytes()) >= 64 for i in range(2))


def forecast_checkpoint(tmp_path: Path) -> Path:
    cfg = compose_fit(tmp_path, ["model=dlinear"])
    path = tmp_path / "forecast.ckpt"
    torch.save({"state_dict": {}, RECORD_KEY: {"config": OmegaConf.to_container(cfg, resolve=True),
                                               "tracking_uri": None, "run_id": None}}, path)
    return path


def stereo_wav(tmp_path: Path) -> Path:
    path = tmp_path / "stereo.wav"
    sf.write(path, np.zeros((800, 2), dtype=np.float32), 8000)
    return path


@pytest.mark.parametrize("checkpoint,overrides,error,message", [
    ("missing", [], CheckpointError, "does not exist"),
    ("foreign", [], CheckpointError, "was not written by tsssm.fit"),
    ("forecast", [], CheckpointError, "holds a forecaster (tsssm.tasks.forecast.ForecastTask), "
                                      "not a sequence model"),
    ("audio", ["n=0"], ValueError, "n must be a positive integer, got 0"),
    ("audio", ["length=0"], ValueError, "length must be a positive integer, got 0"),
    ("audio", ["prompt_length=0"], ValueError, "prompt_length must be a positive integer, got 0"),
    ("audio", ["prompt=STEREO"], AudioFileError, "has 2 channels; only mono audio"),
    ("audio", ["prompt=no_such.wav"], FileNotFoundError, "audio prompt file no_such.wav does not exist"),
    ("audio", ["+overrides.model.backbone.mixers.x.rate=2"], ValueError,
     "has no section 'model.backbone.mixers.x'"),
    ("audio", ["+overrides.model.backbone.d_model=32"], CheckpointError, "do not fit the network"),
    ("bytes", ["prompt=''"], ValueError, "gives no tokens"),
    ("mqar", ["prompt='1 two'"], ValueError, "give token ids separated by spaces"),
    ("mqar", ["prompt='1 99'"], ValueError, "token ids must lie in [0, 16)"),
    ("bytes", ["device=tpu"], ValueError, "device must be auto, cpu or cuda[:INDEX], got 'tpu'"),
])
def test_bad_inputs_fail_clearly(trained, tmp_path, checkpoint, overrides, error, message):
    paths = {"missing": tmp_path / "missing.ckpt", "foreign": tmp_path / "foreign.ckpt",
             "forecast": tmp_path / "forecast.ckpt"}
    if checkpoint == "foreign":
        torch.save({"state_dict": {}}, paths["foreign"])
    if checkpoint == "forecast":
        forecast_checkpoint(tmp_path)
    overrides = [o.replace("STEREO", str(stereo_wav(tmp_path))) for o in overrides]
    with pytest.raises(error, match=re.escape(message)):
        generate_with(paths.get(checkpoint) or trained[checkpoint], tmp_path / "out", *overrides)
