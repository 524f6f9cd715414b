"""Fixtures for the data tests: where the real staged data lies."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data root: env TSSSM_DATA if it holds the staged files, else <repo>/../shared/data.

    Missing data skips these tests on a developer's machine, but fails them under CI (``CI`` set),
    where the data is always staged: a silent skip there would hide a broken data path."""
    candidates = [Path(os.environ["TSSSM_DATA"])] if os.environ.get("TSSSM_DATA") else []
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    for root in candidates:
        if (root / "ett" / "ETTh1.csv").is_file():
            return root
    message = f"real data not found in {[str(c) for c in candidates]}: set TSSSM_DATA to shared/data"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own data root and offline mode; the caller's environment must not leak in."""
    monkeypatch.delenv("TSSSM_OFFLINE", raising=False)
