"""A byte-level BPE tokenizer that is lossless on any bytes, and its on-disk cache.

Why our own byte handling around `tokenizers`: its byte-level BPE takes `str`, but a corpus split is raw
bytes — a 90/5/5 split may cut a multi-byte UTF-8 character in two, and any file may hold bytes that are
not UTF-8 at all. So bytes are encoded piece by piece: valid UTF-8 runs go through the
tokenizer, each other byte becomes its single-byte token (byte-level BPE has one for each of the 256 byte
values, written as GPT-2's printable stand-in character). Decoding maps every token back to its bytes,
never through `str`, so decode(encode(b)) == b for every byte string b, and the bytes a token covers —
its `units` — are fixed per token id.

The tokenizer is trained on the train split only. Both training and encoding are slow on a large corpus
(encoding runs at about 1 MB/s per core), so both are cached: the tokenizer JSON keyed by the sha256 of the
train bytes, the vocabulary size and the recipe; each encoded split (.npy) keyed by the tokenizer's own
fingerprint and the sha256 of the split's bytes. Cache files are written atomically (temp file, rename).
"""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tsssm.data.atomic import write_atomically
from tsssm.data.files import DataFileError

RECIPE = "bytelevel-gpt2regex-v1"
CHUNK_BYTES = 1 << 16
_ENCODE_BATCH = 256


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def write_cache_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write a cache file atomically; a clear error if its folder is not writable (a read-only
    data root needs another cache_dir)."""
    try:
        write_atomically(path, write)
    except OSError as error:
        raise DataFileError(f"cannot write the BPE cache file {path} ({error}); set data.cache_dir "
                            "(or env TSSSM_CACHE) to a writable folder") from error


def byte_alphabet() -> list[str]:
    """GPT-2's stand-in characters: entry b is the printable character that byte-level BPE uses for byte b.

    Printable Latin-1 bytes stand for themselves; the others (controls, space, 0x7F-0xA0, 0xAD) take the
    characters U+0100, U+0101, ... in byte order.
    """
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)}
    alphabet, n_moved = [], 0
    for byte in range(256):
        if byte in printable:
            alphabet.append(chr(byte))
        else:
            alphabet.append(chr(256 + n_moved))
            n_moved += 1
    return alphabet


def _utf8_runs(piece: bytes) -> Iterator[str | int]:
    """`piece` as its valid UTF-8 runs (str) and, between them, each invalid byte (int)."""
    while piece:
        try:
            yield piece.decode("utf-8")
            return
        except UnicodeDecodeError as error:
            if error.start:
                yield piece[: error.start].decode("utf-8")
            yield from piece[error.start : error.end]
            piece = piece[error.end :]


def text_segments(data: bytes) -> Iterator[str | int]:
    """`data` in order as text pieces and stray bytes; pieces are cut after a newline found between
    CHUNK_BYTES and 2 * CHUNK_BYTES into each, else at 2 * CHUNK_BYTES (a cut character becomes stray bytes)."""
    start = 0
    while start < len(data):
        newline = data.find(b"\n", start + CHUNK_BYTES, start + 2 * CHUNK_BYTES)
        stop = newline + 1 if newline >= 0 else min(len(data), start + 2 * CHUNK_BYTES)
        yield from _utf8_runs(data[start:stop])
        start = stop


class ByteLevelBPE:
    """A trained `tokenizers` byte-level BPE with lossless bytes in and out.

    vocab_size: number of token ids. unit_table: (vocab_size,) float32, bytes covered by each token id.
    fingerprint: a short hash of the tokenizer JSON, naming its cached encodings.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        alphabet = byte_alphabet()
        byte_ids = [tokenizer.token_to_id(char) for char in alphabet]
        if None in byte_ids:
            missing = [byte for byte, token in enumerate(byte_ids) if token is None]
            raise ValueError(f"not a byte-level BPE: no token for bytes {missing[:8]}")
        self._byte_ids = byte_ids
        byte_of = {char: byte for byte, char in enumerate(alphabet)}
        self._token_bytes = [bytes(byte_of[char] for char in tokenizer.id_to_token(token))
                             for token in range(tokenizer.get_vocab_size())]
        self.unit_table = torch.tensor([len(token) for token in self._token_bytes], dtype=torch.float32)
        self.fingerprint = _sha256(tokenizer.to_str().encode())[:16]

    @property
    def vocab_size(self) -> int:
        return len(self._token_bytes)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> "ByteLevelBPE":
        """Learn merges from `texts` up to `vocab_size` tokens (>= 256: every byte has its own token)."""
        if vocab_size < 256:
            raise ValueError(f"a byte-level BPE vocabulary holds the 256 bytes at least, got vocab_size {vocab_size}")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=[], show_progress=False)
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    def encode_text(self, text: str) -> torch.Tensor:
        """(n,) long token ids of `text`."""
        return torch.tensor(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=torch.long)

    def encode_bytes(self, data: bytes) -> torch.Tensor:
        """(n,) long token ids of any bytes; their units sum to len(data)."""
        segments = list(text_segments(data))
        pieces = []
        for begin in range(0, len(segments), _ENCODE_BATCH):
            group = segments[begin : begin + _ENCODE_BATCH]
            encoded = iter(self.tokenizer.encode_batch([seg for seg in group if isinstance(seg, str)],
                                                       add_special_tokens=False))
            pieces += [np.asarray(next(encoded).ids if isinstance(seg, str) else [self._byte_ids[seg]],
                                  dtype=np.int64) for seg in group]
        tokens = torch.from_numpy(np.concatenate(pieces)) if pieces else torch.zeros(0, dtype=torch.long)
        self.check_covers(tokens, data, "the encoded bytes")
        return tokens

    def decode(self, ids: torch.Tensor | Iterable[int]) -> bytes:
        """The bytes that token ids (n,) stand for."""
        return b"".join(self._token_bytes[token] for token in torch.as_tensor(ids).flatten().tolist())

    def byte_token(self, byte: int) -> int:
        """The id of the single-byte token of `byte` (0..255)."""
        return self._byte_ids[byte]

    def check_covers(self, ids: torch.Tensor, data: bytes, source: str) -> None:
        """Raise unless token ids (n,) cover exactly len(data) bytes (`source` names them in the error)."""
        if ids.numel() and not (0 <= int(ids.min()) and int(ids.max()) < self.vocab_size):
            raise DataFileError(f"BPE tokens of {source} leave the vocabulary [0, {self.vocab_size})")
        covered = int(self.unit_table[ids].sum().item())
        if covered != len(data):
            raise DataFileError(f"BPE tokens of {source} cover {covered} bytes, but it holds {len(data)}")


def cached_tokenizer(train: bytes, vocab_size: int, cache_dir: Path) -> ByteLevelBPE:
    """The tokenizer of `train` at `vocab_size`: read from the cache, else trained on it and cached."""
    key = _sha256(RECIPE.encode(), b"\0", train)[:24]
    path = cache_dir / f"bpe-{vocab_size}-{key}.json"
    if path.is_file():
        try:
            return ByteLevelBPE(Tokenizer.from_file(str(path)))
        except Exception as error:
            raise DataFileError(f"cached BPE tokenizer {path} is unreadable ({error}); delete it to retrain") from error
    bpe = ByteLevelBPE.train((seg for seg in text_segments(train) if isinstance(seg, str)), vocab_size)
    write_cache_file(path, lambda tmp: bpe.tokenizer.save(str(tmp)))
    return bpe


def cached_encoding(bpe: ByteLevelBPE, data: bytes, cache_dir: Path) -> torch.Tensor:
    """(n,) long token ids of `data` under `bpe`: read from the cache, else encoded and cached."""
    path = cache_dir / f"ids-{bpe.fingerprint}-{_sha256(data)[:24]}.npy"
    if path.is_file():
        try:
            ids = torch.from_numpy(np.load(path).astype(np.int64))
        except (OSError, ValueError) as error:
            raise DataFileError(f"cached BPE encoding {path} is unreadable ({error}); delete it") from error
        bpe.check_covers(ids, data, f"cache file {path} (delete it)")
        return ids
    ids = bpe.encode_bytes(data)
    compact = ids.numpy().astype(np.int16 if bpe.vocab_size <= 2**15 else np.int32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, compact)

    write_cache_file(path, write)
    return ids
