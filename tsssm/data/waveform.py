"""Reading one audio file as a mono waveform at the sample rate a model is trained at.

WAV, FLAC and the other formats libsndfile reads are decoded by `soundfile` to float32 in [-1, 1) and
resampled with `torchaudio.functional.resample` (windowed-sinc, band-limited) when the file's rate
differs. Every way a file can be unusable — unreadable, empty, not mono, too short — is an error that
names the file, so one bad recording in a folder of thousands is found at once.
"""

from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

from tsssm.data.files import DataFileError


class AudioFileError(DataFileError):
    """An audio file cannot be used: unreadable, empty, not mono, or shorter than required."""


def read_mono(path: Path, sample_rate: int, min_length: int = 1) -> torch.Tensor:
    """(n,) float32 samples of the mono file `path` at `sample_rate` Hz, n >= min_length (counted after resampling)."""
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as error:
        raise AudioFileError(f"cannot read audio file {path}: {error}") from error
    n_frames, n_channels = data.shape
    if n_channels != 1:
        raise AudioFileError(f"audio file {path} has {n_channels} channels; only mono audio is supported "
                             "(mix it down to one channel first)")
    if n_frames == 0:
        raise AudioFileError(f"audio file {path} holds no samples")
    wave = torch.from_numpy(data[:, 0].copy())
    if file_rate != sample_rate:
        wave = AF.resample(wave, file_rate, sample_rate)
    if wave.shape[0] < min_length:
        raise AudioFileError(f"audio file {path} is {wave.shape[0]} samples long at {sample_rate} Hz, "
                             f"shorter than min_length {min_length}")
    return wave
