"""The BPE view of a byte corpus: byte-level BPE tokens on the same 90/5/5 byte split as `bytes.py`.

Why the units: bits per byte must be comparable between the byte and the BPE views, so each target token
carries the number of corpus bytes it covers (`units`), and both views score exactly the same bytes.
The byte view scores every byte of a split but the first (it is the first window's context); here the
first byte of a split is likewise a token of its own, followed by the BPE tokens of the rest, so the
scored tokens cover every byte but the first: sum(units) over val or test = split bytes - 1 in both views.
"""

import os
from pathlib import Path

import torch

from tsssm.data.bpe_tokenizer import ByteLevelBPE, cached_encoding, cached_tokenizer
from tsssm.data.bytes import ByteDataModule
from tsssm.data.files import data_root
from tsssm.data.sequence import compact_ids


class BPEDataModule(ByteDataModule):
    """Byte-level BPE tokens of a registry corpus (`name`) or of any file (`path`).

    vocab_size: the tokenizer's size, trained on the train split only (a small corpus may learn fewer
    merges, leaving the top ids unused; the model's vocabulary stays `vocab_size`). cache_dir: where the
    tokenizer and the encoded splits are cached; None = <data root>/bpe. Other arguments as ByteDataModule;
    seq_len counts tokens.
    """

    def __init__(
        self,
        name: str | None = "tinyshakespeare",
        path: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        vocab_size: int = 1024,
        seq_len: int = 256,
        batch_size: int = 32,
        num_workers: int = 0,
        train_windows: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(name, path, root, seq_len, batch_size, num_workers, train_windows)
        if not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size of a byte-level BPE must be an integer >= 256, got {vocab_size!r}")
        self._vocab_size = vocab_size
        self.cache_dir = Path(cache_dir) if cache_dir is not None else data_root(root) / "bpe"
        self._bpe: ByteLevelBPE | None = None

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def tokenizer(self) -> ByteLevelBPE:
        if self._bpe is None:
            raise RuntimeError("BPEDataModule: call prepare_data() or setup() before using its tokenizer")
        return self._bpe

    def prepare_data(self) -> None:
        """Download the corpus, train the tokenizer and encode the splits into the cache (one process only)."""
        super().prepare_data()
        self._streams(self._parts())

    def _streams(self, parts: dict[str, bytes]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each split's tokens — its first byte's token, then the BPE tokens of the rest — and bytes per token."""
        self._bpe = cached_tokenizer(parts["train"], self._vocab_size, self.cache_dir)
        streams = {}
        for split, part in parts.items():
            rest = cached_encoding(self._bpe, part[1:], self.cache_dir)
            ids = torch.cat([torch.tensor([self._bpe.byte_token(part[0])]), rest])
            streams[split] = compact_ids(ids)
        return streams, self._bpe.unit_table

    def encode(self, text: str) -> torch.Tensor:
        """(n,) long token ids of `text`."""
        return self.tokenizer.encode_text(text)

    def decode(self, ids: torch.Tensor) -> bytes:
        """The bytes that token ids (n,) stand for."""
        return self.tokenizer.decode(ids)
