"""Finding a dataset's file under the data root, verifying it, and downloading it when missing.

The data root is the `root` argument, else the `TSSSM_DATA` environment variable, else `./data`.
A file is looked for at each of its stored copies in turn; the first one present is verified (sha256
where the registry knows it) and returned. When none is present it is downloaded to the first copy's
path — into a temporary file beside it, then renamed, so an interrupted download never leaves a partial
file behind — unless `TSSSM_OFFLINE=1`, in which case the error says which file to put where.

Hashes are cached per process by (path, mtime, size): a run hashes each file once, however many
DataModules open it.
"""

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from tsssm.data.registry import FileSource, StoredFile

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20
_hash_cache: dict[tuple[str, int, int], str] = {}


class DataFileError(RuntimeError):
    """A data file is missing, unreachable or not the expected bytes."""


class ChecksumError(DataFileError):
    """A file's sha256 differs from the one the registry records."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: `root`, else env TSSSM_DATA, else ./data (not created here)."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("TSSSM_DATA") or "data")


def offline() -> bool:
    """True when env TSSSM_OFFLINE forbids downloads (any value but empty or "0")."""
    return os.environ.get("TSSSM_OFFLINE", "") not in ("", "0")


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, computed once per process for a given (path, mtime, size)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _hash_cache:
        _hash_cache[key] = _hash_file(path)
    return _hash_cache[key]


def verify(path: Path, expected_sha256: str | None) -> None:
    """Raise ChecksumError naming the file and both hashes if its sha256 is not the expected one."""
    if expected_sha256 is None:
        return
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ChecksumError(
            f"checksum mismatch for {path}: expected sha256 {expected_sha256}, got {actual}. "
            "The file is corrupt or a different version; delete it to download it again, "
            "or replace it with the published file."
        )


def download(url: str, dest: Path, expected_sha256: str | None, timeout: float = DOWNLOAD_TIMEOUT_S) -> str:
    """Fetch `url` into `dest` atomically (temp file in dest's folder, then rename); returns its sha256.

    On a checksum mismatch or any failure the temp file is removed and nothing lands at `dest`.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if expected_sha256 is not None and actual != expected_sha256:
            raise ChecksumError(
                f"checksum mismatch for {dest} downloaded from {url}: expected sha256 {expected_sha256}, "
                f"got {actual}. Nothing was saved."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    stat = dest.stat()
    _hash_cache[(str(dest.resolve()), stat.st_mtime_ns, stat.st_size)] = actual
    return actual


def _where_to_put(dataset: str, copies: tuple[StoredFile, ...], root: Path, url: str | None) -> str:
    first = (root / copies[0].path).resolve()
    alternatives = [str((root / copy.path).resolve()) for copy in copies[1:]]
    text = f"put the file for dataset {dataset!r} at {first}"
    if alternatives:
        text += f" (or at {' or '.join(alternatives)})"
    if url is not None:
        text += f"; it is published at {url}"
    return text + ". Set TSSSM_DATA or data.root to use another data root."


def locate(source: FileSource, dataset: str, root: str | os.PathLike | None = None) -> Path:
    """Path of a verified copy of `source` under the data root, downloading it there if missing.

    Raises ChecksumError for a present but wrong file (never falls back to another copy silently), and
    DataFileError when the file is missing and cannot be downloaded (offline, no URL, or a failure).
    """
    base = data_root(root)
    for copy in source.copies:
        path = base / copy.path
        if path.is_file():
            verify(path, copy.sha256)
            return path
    if source.url is None:
        where = _where_to_put(dataset, source.copies, base, None)
        raise DataFileError(f"no copy found and no public URL known: {where}")
    if offline():
        raise DataFileError(
            f"dataset {dataset!r} is missing and TSSSM_OFFLINE is set, so it was not downloaded: "
            + _where_to_put(dataset, source.copies, base, source.url)
        )
    first = source.copies[0]
    dest = base / first.path
    log.info("downloading dataset %s from %s to %s", dataset, source.url, dest)
    try:
        actual = download(source.url, dest, first.sha256)
    except OSError as error:
        raise DataFileError(
            f"download of dataset {dataset!r} failed ({error}): "
            + _where_to_put(dataset, source.copies, base, source.url)
        ) from error
    if first.sha256 is None:
        log.warning(
            "dataset %s: downloaded %s with sha256 %s; no canonical hash is recorded, so only its shape is checked",
            dataset, dest, actual,
        )
    return dest
