"""Finding a registry audio folder under the data root, verifying it, and downloading missing files.

The folder counterpart of `files.locate`: FSDD is 3000 small files, so instead of 3000 recorded hashes the
registry keeps one, that of the folder's `sha256sum` listing (see `AudioFolderSpec`). The listing is
rebuilt from the files present (each hash computed once per process) and compared with it; on a mismatch
a stored copy of the listing, if present, names the files that differ. Missing files are downloaded one by
one (each atomically) unless TSSSM_OFFLINE is set, in which case the error says which files to put where.
"""

import hashlib
import logging
import os
from pathlib import Path

from tsssm.data.files import ChecksumError, DataFileError, data_root, download, offline, sha256_of
from tsssm.data.registry import AudioFolderSpec

log = logging.getLogger(__name__)


def folder_listing(folder: Path, names: list[str]) -> str:
    """The `sha256sum` listing of `names` in `folder` as run from its parent: "<hash>  <folder>/<name>" lines,
    sorted by name."""
    return "".join(f"{sha256_of(folder / name)}  {folder.name}/{name}\n" for name in sorted(names))


def _differing_files(spec: AudioFolderSpec, base: Path, listing: str) -> list[str]:
    """Files whose line differs from the stored listing copy (empty when there is no trusted copy)."""
    if spec.listing_path is None or not (base / spec.listing_path).is_file():
        return []
    stored_path = base / spec.listing_path
    if sha256_of(stored_path) != spec.listing_sha256:
        return []
    stored = set(stored_path.read_text().splitlines())
    return [line.split("  ", 1)[1] for line in listing.splitlines() if line not in stored]


def verify_folder(spec: AudioFolderSpec, root: str | os.PathLike | None = None) -> None:
    """Raise ChecksumError if the folder's files are not the published ones (no-op without a listing hash)."""
    if spec.listing_sha256 is None:
        return
    base = data_root(root)
    folder = base / spec.folder
    listing = folder_listing(folder, list(spec.file_names))
    actual = hashlib.sha256(listing.encode()).hexdigest()
    if actual != spec.listing_sha256:
        culprits = _differing_files(spec, base, listing)
        which = f"; these differ: {', '.join(culprits[:10])}" if culprits else ""
        raise ChecksumError(
            f"the files of dataset {spec.name!r} in {folder.resolve()} are not the published ones: the sha256 "
            f"of their listing is {actual}, expected {spec.listing_sha256}{which}. Delete the wrong files to "
            "download them again, or replace them with the published ones."
        )


def _where_to_put(spec: AudioFolderSpec, folder: Path, missing: list[str]) -> str:
    text = (f"dataset {spec.name!r} lacks {len(missing)} of its {len(spec.file_names)} files "
            f"(e.g. {', '.join(missing[:3])}): put them in {folder.resolve()}/")
    if spec.url_prefix is not None:
        text += f"; each is published at {spec.url_prefix}/<file name>"
    return text + ". Set TSSSM_DATA or data.root to use another data root."


def locate_folder(spec: AudioFolderSpec, root: str | os.PathLike | None = None) -> list[Path]:
    """Paths of all the folder's files (in registry order), verified, after downloading any missing one."""
    folder = data_root(root) / spec.folder
    missing = [name for name in spec.file_names if not (folder / name).is_file()]
    if missing and (spec.url_prefix is None or offline()):
        reason = "no public URL is known" if spec.url_prefix is None else "TSSSM_OFFLINE is set"
        raise DataFileError(f"{reason}, so nothing was downloaded: {_where_to_put(spec, folder, missing)}")
    if missing:
        log.info("downloading %d files of dataset %s from %s to %s", len(missing), spec.name, spec.url_prefix, folder)
    for done, name in enumerate(missing, start=1):
        try:
            download(f"{spec.url_prefix}/{name}", folder / name, None)
        except OSError as error:
            where = _where_to_put(spec, folder, missing)
            raise DataFileError(f"download of {name} failed ({error}): {where}") from error
        if done % 500 == 0:
            log.info("dataset %s: %d of %d files downloaded", spec.name, done, len(missing))
    verify_folder(spec, root)
    return [folder / name for name in spec.file_names]
