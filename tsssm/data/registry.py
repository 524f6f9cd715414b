"""The dataset registry: what each named dataset is, where its files lie and where they come from.

Why a registry: experiments name a dataset ("ETTh1", "fsdd", "enwik8"); everything else — the files under
the data root, the public URL, the checksum, the split rule, the seasonal period of the naive baseline, the
sample rate — is looked up here, so a config cannot pair a dataset with the wrong split or an unverified file.

Three kinds of entry: tabular series (`TabularSpec`, one file), byte corpora (`CorpusSpec`, one file read as
raw bytes) and audio folders (`AudioFolderSpec`, many files checked together through their checksum list).

Checksums: a `sha256` is recorded only where the canonical bytes are known (the files staged in
shared/data, see its MANIFEST.md). For ETTm2, Weather, Electricity, Traffic and enwik8 no canonical sha256
is known, so it is `None`: those files are checked by their shape (rows × variables, or bytes) instead, and
a download logs the sha256 it computed.
"""

from dataclasses import dataclass
from typing import TypeVar

SPLIT_RULES = ("ett_hour", "ett_minute", "ratio")
FILE_FORMATS = ("wide_csv", "lstnet_txt")
AUDIO_SPLIT_RULES = ("fsdd_takes", "ratio")


@dataclass(frozen=True)
class StoredFile:
    """One form a file may take under the data root.

    path: POSIX path relative to the data root, e.g. "ett/ETTm1.csv.gz".
    sha256: hex digest of exactly these bytes, or None where no canonical hash is known.
    """

    path: str
    sha256: str | None


@dataclass(frozen=True)
class FileSource:
    """A logical file: the copies it may be found as (in order of preference) and its public URL.

    The URL serves the bytes of `copies[0]`; a download lands there and is checked against its sha256.
    A source without a URL must be put in place by hand.
    """

    copies: tuple[StoredFile, ...]
    url: str | None

    def __post_init__(self) -> None:
        if not self.copies:
            raise ValueError("FileSource needs at least one stored copy")


@dataclass(frozen=True)
class DatasetSpec:
    """What every registry entry has: a name, a kind of data, and where its file comes from.

    source is None for data generated in-process (the synthetic default) and for folders of many files
    (`AudioFolderSpec` lists its files itself).
    """

    name: str
    kind: str
    source: FileSource | None
    description: str


@dataclass(frozen=True)
class TabularSpec(DatasetSpec):
    """A multivariate time series: a matrix of rows (time steps) × variables.

    file_format: "wide_csv" (a date column + one column per variable) or "lstnet_txt" (headerless floats).
    split: the LTSF split rule, one of SPLIT_RULES.
    freq: pandas frequency alias of the time step.
    seasonal_period: steps per season for the seasonal-naive baseline (1 = repeat the last value).
    target: the variable forecast in "S" mode; None means the last variable column.
    n_rows, n_vars: expected shape (variables exclude the date column); None where not fixed.
    """

    file_format: str | None = None
    split: str = "ratio"
    freq: str = "h"
    seasonal_period: int = 1
    target: str | None = "OT"
    n_rows: int | None = None
    n_vars: int | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLIT_RULES:
            raise ValueError(f"dataset {self.name}: split {self.split!r} is not one of {SPLIT_RULES}")
        if self.file_format is not None and self.file_format not in FILE_FORMATS:
            raise ValueError(f"dataset {self.name}: format {self.file_format!r} is not one of {FILE_FORMATS}")


@dataclass(frozen=True)
class CorpusSpec(DatasetSpec):
    """A byte corpus: one file read as raw bytes (text or not), split contiguously into train/val/test.

    n_bytes: expected size of the corpus in bytes (checked when sha256 is unknown); None where not fixed.
    member: the corpus's name inside a stored `.zip` copy (enwik8.zip holds "enwik8"); None for plain files.
    """

    n_bytes: int | None = None
    member: str | None = None


@dataclass(frozen=True)
class AudioFolderSpec(DatasetSpec):
    """A folder of audio files under the data root, verified together through their checksum list.

    folder: POSIX path of the folder relative to the data root, e.g. "fsdd/recordings".
    file_names: every file expected in the folder (file names only, no subfolders).
    listing_sha256: sha256 of the folder's `sha256sum` listing as run from its parent folder, i.e. the
    lines "<sha256 of the file>  <folder name>/<file name>\\n" sorted by file name — one hash that pins
    every file. listing_path: where a copy of that listing may lie under the data root (FSDD ships it as
    fsdd/SHA256SUMS); when present it names the files that differ.
    url_prefix: where file NAME is published, as f"{url_prefix}/{NAME}"; None if it must be put by hand.
    sample_rate: the recordings' sample rate in Hz. split: one of AUDIO_SPLIT_RULES.
    """

    folder: str = ""
    file_names: tuple[str, ...] = ()
    listing_sha256: str | None = None
    listing_path: str | None = None
    url_prefix: str | None = None
    sample_rate: int = 16000
    split: str = "ratio"

    def __post_init__(self) -> None:
        if self.split not in AUDIO_SPLIT_RULES:
            raise ValueError(f"dataset {self.name}: split {self.split!r} is not one of {AUDIO_SPLIT_RULES}")
        if not self.folder or not self.file_names:
            raise ValueError(f"dataset {self.name}: an audio folder needs a folder path and its file names")


_ETT_COMMIT = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07"
_THUML_COPY = (
    "https://raw.githubusercontent.com/junwoopark92/Self-Supervised-Contrastive-Forecsating/"
    "f394705adbf5217811276f5e59576c6e7ea7586c/dataset"
)
_LSTNET = (
    "https://raw.githubusercontent.com/laiguokun/multivariate-time-series-data/"
    "7f402f185cc2435b5e66aed13a3b560ed142e023"
)


_FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_TAKES = 50


def _ett(name: str, split: str, freq: str, period: int, rows: int, copies: tuple[StoredFile, ...]) -> TabularSpec:
    return TabularSpec(
        name=name,
        kind="tabular",
        source=FileSource(copies=copies, url=f"{_ETT_COMMIT}/ETT-small/{name}.csv"),
        description=f"Electricity Transformer Temperature {name} (ETDataset, CC BY-ND 4.0)",
        file_format="wide_csv",
        split=split,
        freq=freq,
        seasonal_period=period,
        target="OT",
        n_rows=rows,
        n_vars=7,
    )


def _one_copy(path: str, sha256: str | None, url: str) -> FileSource:
    return FileSource(copies=(StoredFile(path, sha256),), url=url)


def _fsdd() -> AudioFolderSpec:
    """The Free Spoken Digit Dataset: files "{digit}_{speaker}_{take}.wav", 10 digits × 6 speakers × 50 takes."""
    names = tuple(
        f"{digit}_{speaker}_{take}.wav"
        for digit in range(10) for speaker in FSDD_SPEAKERS for take in range(FSDD_TAKES)
    )
    return AudioFolderSpec(
        name="fsdd",
        kind="audio",
        source=None,
        description="Free Spoken Digit Dataset: 3000 mono 8 kHz recordings of spoken digits (CC BY-SA 4.0)",
        folder="fsdd/recordings",
        file_names=names,
        listing_sha256="04e1baae96c6a26e39c623f2b01d0182ddae627ba0ac02a3cdc17ba2af99fd9b",
        listing_path="fsdd/SHA256SUMS",
        url_prefix=(
            f"https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/{_FSDD_COMMIT}/recordings"
        ),
        sample_rate=8000,
        split="fsdd_takes",
    )


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        _ett(
            "ETTh1", "ett_hour", "h", 24, 17420,
            (StoredFile("ett/ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"),),
        ),
        _ett(
            "ETTh2", "ett_hour", "h", 24, 17420,
            (StoredFile("ett/ETTh2.csv", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"),),
        ),
        _ett(
            "ETTm1", "ett_minute", "15min", 96, 69680,
            (
                StoredFile("ett/ETTm1.csv", "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"),
                StoredFile("ett/ETTm1.csv.gz", "73c18304514c26a5cddba02e6538513a0e23b2fbb59752535adbf541c9edc672"),
            ),
        ),
        _ett(
            "ETTm2", "ett_minute", "15min", 96, 69680,
            (StoredFile("ett/ETTm2.csv", None), StoredFile("ett/ETTm2.csv.gz", None)),
        ),
        TabularSpec(
            name="Weather",
            kind="tabular",
            source=_one_copy("weather/weather.csv", None, f"{_THUML_COPY}/weather/weather.csv"),
            description="Max Planck Jena weather station 2020, 21 variables every 10 min (Autoformer CSV)",
            file_format="wide_csv",
            split="ratio",
            freq="10min",
            seasonal_period=144,
            target="OT",
            n_rows=52696,
            n_vars=21,
        ),
        TabularSpec(
            name="Exchange",
            kind="tabular",
            source=_one_copy(
                "exchange_rate/exchange_rate.csv",
                "d55e7aa2641009814a18ba3279431b13f6d413b0eab195b9ff21988d8cf94e97",
                f"{_THUML_COPY}/exchange_rate/exchange_rate.csv",
            ),
            description="Daily exchange rates of 8 countries, 1990-2010 (Autoformer CSV of the LSTNet data)",
            file_format="wide_csv",
            split="ratio",
            freq="D",
            seasonal_period=1,
            target="OT",
            n_rows=7588,
            n_vars=8,
        ),
        TabularSpec(
            name="ILI",
            kind="tabular",
            source=_one_copy(
                "illness/national_illness.csv",
                "8594cecb98c6f2f9dc014eca11c4d5d1e38ad5ce6ed0592d4abe65b146fce395",
                f"{_THUML_COPY}/illness/national_illness.csv",
            ),
            description="CDC ILINet weekly influenza-like illness, 2002-2020 (Autoformer CSV)",
            file_format="wide_csv",
            split="ratio",
            freq="W",
            seasonal_period=52,
            target="OT",
            n_rows=966,
            n_vars=7,
        ),
        TabularSpec(
            name="Electricity",
            kind="tabular",
            source=FileSource(
                copies=(
                    StoredFile("electricity/electricity.txt.gz", None),
                    StoredFile("electricity/electricity.txt", None),
                ),
                url=f"{_LSTNET}/electricity/electricity.txt.gz",
            ),
            description="Hourly consumption of 321 clients, 2012-2014 (LSTNet release: no header, no dates)",
            file_format="lstnet_txt",
            split="ratio",
            freq="h",
            seasonal_period=24,
            target=None,
            n_rows=26304,
            n_vars=321,
        ),
        TabularSpec(
            name="Traffic",
            kind="tabular",
            source=FileSource(
                copies=(StoredFile("traffic/traffic.txt.gz", None), StoredFile("traffic/traffic.txt", None)),
                url=f"{_LSTNET}/traffic/traffic.txt.gz",
            ),
            description="Hourly occupancy of 862 San Francisco freeway sensors, 2015-2016 (LSTNet release)",
            file_format="lstnet_txt",
            split="ratio",
            freq="h",
            seasonal_period=24,
            target=None,
            n_rows=17544,
            n_vars=862,
        ),
        TabularSpec(
            name="synthetic",
            kind="tabular",
            source=None,
            description="Seeded multi-seasonal signals generated in-process (tsssm.data.synthetic); no download",
            file_format=None,
            split="ratio",
            freq="h",
            seasonal_period=24,
            target=None,
        ),
        CorpusSpec(
            name="tinyshakespeare",
            kind="corpus",
            source=_one_copy(
                "text/tinyshakespeare_input.txt",
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                "https://raw.githubusercontent.com/karpathy/char-rnn/"
                "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
            ),
            description="tiny shakespeare (char-rnn): 1,115,394 bytes of ASCII plays, public domain",
            n_bytes=1_115_394,
        ),
        CorpusSpec(
            name="enwik6",
            kind="corpus",
            source=_one_copy(
                "text/enwik6",
                "369b688978f649681136198fb96db14c1616756260c55fb4b65e9bc049552cad",
                "https://raw.githubusercontent.com/devedse/DeveMultiCompressor/"
                "c1b146e6819f2914d2ded896914ece90cfc941dd/DeveMultiCompressor.Tests/TestFiles/enwik6.txt",
            ),
            description="enwik6: the first 10^6 bytes of enwik8 (English Wikipedia XML, 2006-03-03)",
            n_bytes=1_000_000,
        ),
        CorpusSpec(
            name="enwik8",
            kind="corpus",
            source=FileSource(
                copies=(StoredFile("text/enwik8.zip", None), StoredFile("text/enwik8", None)),
                url="http://mattmahoney.net/dc/enwik8.zip",
            ),
            description="enwik8 (Hutter Prize): the first 10^8 bytes of an English Wikipedia XML dump",
            n_bytes=100_000_000,
            member="enwik8",
        ),
        _fsdd(),
    )
}


SpecT = TypeVar("SpecT", bound=DatasetSpec)


def get_spec(name: str) -> DatasetSpec:
    """The registry entry called `name` (case-insensitive); an unknown name lists the known ones."""
    by_lower = {key.lower(): spec for key, spec in REGISTRY.items()}
    spec = by_lower.get(name.lower())
    if spec is None:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)}")
    return spec


def get_spec_of_type(name: str, spec_type: type[SpecT], wanted: str) -> SpecT:
    """The registry entry `name`, which must be a `spec_type` (`wanted` names that kind in the error)."""
    spec = get_spec(name)
    if not isinstance(spec, spec_type):
        raise ValueError(f"dataset {spec.name!r} is of kind {spec.kind!r}, not {wanted}")
    return spec


def get_tabular_spec(name: str) -> TabularSpec:
    """The registry entry `name`, which must be a tabular time series."""
    return get_spec_of_type(name, TabularSpec, "a tabular time series")
