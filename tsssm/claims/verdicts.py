"""Verdicts, worded from the numbers.

A ``Cell`` is one judged piece of evidence: one claimed model against another at one set of
conditions (a paired difference over seeds), or one model's fitted exponent. Its outcome comes from
its 95% interval: entirely on the claimed side of the line it must clear (0 for a difference, a
threshold for an exponent) -> holds; entirely on the other side -> fails; across it -> undecided;
a difference decides only where its p-value, adjusted over the study's comparisons, allows it
(``tsssm.claims.comparison``).
Fewer than ``MIN_SEEDS`` seeds -> too few, and the cell takes no part in the verdict.

``judge`` turns a study's cells into one verdict: holds / fails / no difference when every cell
agrees, else "depends on the <factor>", naming the factor (model, dataset, horizon, ...) whose
levels best separate the outcomes. ``combine`` does the same across a claim's studies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    HOLDS = "holds"
    FAILS = "fails"
    UNDECIDED = "no difference"
    TOO_FEW = "too few"


@dataclass(frozen=True)
class Factor:
    """Something a verdict may depend on, and how a verdict names its levels ("on ETTh1")."""

    name: str
    preposition: str


@dataclass(frozen=True)
class Cell:
    """One judged piece of evidence.

    ``levels`` pairs each factor's name with this cell's level of it; ``evidence`` cites the
    numbers; ``margin`` orders cells of one outcome by how clearly they clear the line they are
    judged by (an exponent's interval's distance from its threshold, negative where it crosses it;
    a comparison's p-value, negated), so that the weakest decided cell, or the undecided one
    nearest to a decision, is the one cited; ``shortfall`` says why a too-few cell is not judged
    ("not enough seeds (2)").
    """

    levels: tuple[tuple[str, str], ...]
    outcome: Outcome
    n: int
    evidence: str
    margin: float = 0.0
    shortfall: str = ""

    def level(self, factor: str) -> str:
        return dict(self.levels)[factor]


@dataclass(frozen=True)
class Verdict:
    """``word`` (holds, fails, depends on the dataset, no difference detected at 3 seeds, not
    enough seeds (2), no runs yet), ``detail`` (the numbers or levels behind it), and whether the
    numbers decided it (False: no runs yet or too few seeds)."""

    word: str
    detail: str = ""
    decided: bool = True

    def line(self) -> str:
        return f"{self.word}: {self.detail}" if self.detail else self.word


NO_RUNS = Verdict("no runs yet", decided=False)
NOTHING_TO_JUDGE = Verdict("nothing to judge yet", "no claimed model has runs to compare with",
                           decided=False)


def not_enough_seeds(n: int) -> str:
    return f"not enough seeds ({n})"


def seeds_text(cells: Sequence[Cell]) -> str:
    """``3`` or ``3-5``: the seeds behind the cells."""
    low, high = min(c.n for c in cells), max(c.n for c in cells)
    return str(low) if low == high else f"{low}-{high}"


def judge(cells: Sequence[Cell], factors: Sequence[Factor], undecided: str) -> Verdict:
    """One verdict from a study's cells; ``undecided`` words an all-undecided verdict, with
    ``{seeds}`` for the seed count (``"no difference detected at {seeds} seeds"``)."""
    if not cells:
        return NO_RUNS
    decided = [c for c in cells if c.outcome is not Outcome.TOO_FEW]
    if not decided:
        best_covered = max(cells, key=lambda c: c.n)
        return Verdict(best_covered.shortfall, f"none of {len(cells)} comparison(s) has enough runs",
                       decided=False)
    outcomes = {c.outcome for c in decided}
    if len(outcomes) == 1:
        verdict = _uniform(decided, outcomes.pop(), undecided)
    else:
        verdict = _depends(decided, factors)
    left_out = len(cells) - len(decided)
    if left_out:
        detail = f"{verdict.detail}; {left_out} more without enough runs, not judged"
        verdict = Verdict(verdict.word, detail)
    return verdict


def _uniform(cells: Sequence[Cell], outcome: Outcome, undecided: str) -> Verdict:
    """Every cell agrees: cite the one nearest to the other side (for undecided cells, the one
    nearest to a difference)."""
    if outcome is Outcome.UNDECIDED:
        word = undecided.format(seeds=seeds_text(cells))
        cited, label = max(cells, key=lambda c: c.margin), "the nearest to a difference"
    else:
        word = outcome.value
        cited, label = min(cells, key=lambda c: c.margin), "the weakest"
    if len(cells) == 1:
        return Verdict(word, cited.evidence)
    return Verdict(word, f"in all {len(cells)} comparisons; {label}: {cited.evidence}")


def _depends(cells: Sequence[Cell], factors: Sequence[Factor]) -> Verdict:
    """The factor whose levels have one outcome each for the most cells names the dependence."""
    tallies = {f: _tally(cells, f.name) for f in factors if len({c.level(f.name) for c in cells}) > 1}
    mixed = {f: sum(sum(t.values()) for t in levels.values() if len(t) > 1)
             for f, levels in tallies.items()}
    best = min(mixed, key=mixed.get, default=None)
    if best is None or mixed[best] == len(cells):
        counts = Counter(c.outcome for c in cells)
        parts = [f"{o.value} in {counts[o]}" for o in Outcome if counts[o]]
        return Verdict("depends on the comparison", f"{', '.join(parts)} of {len(cells)} comparisons")
    groups: dict[str, list[str]] = {}
    for level, tally in tallies[best].items():
        if len(tally) == 1:
            groups.setdefault(next(iter(tally)).value, []).append(level)
        else:
            counts = ", ".join(f"{o.value} {tally[o]}" for o in Outcome if tally[o])
            groups.setdefault("mixed", []).append(f"{level} ({counts})")
    order = [o.value for o in Outcome] + ["mixed"]
    parts = [f"{word} {best.preposition} {', '.join(groups[word])}" for word in order if word in groups]
    return Verdict(f"depends on the {best.name}", "; ".join(parts))


def _tally(cells: Sequence[Cell], factor: str) -> dict[str, Counter]:
    """Outcome counts per level of ``factor``, levels in the order the cells first show them."""
    tallies: dict[str, Counter] = {}
    for cell in cells:
        tallies.setdefault(cell.level(factor), Counter())[cell.outcome] += 1
    return tallies


def combine(verdicts: Sequence[tuple[str, Verdict]]) -> Verdict:
    """A claim's verdict from its studies' (name, verdict) pairs."""
    if len(verdicts) == 1:
        return verdicts[0][1]
    decided = [(name, v) for name, v in verdicts if v.decided]
    pending = [f"{v.word} for {name}" for name, v in verdicts if not v.decided]
    if not decided:
        started = [v.word for _, v in verdicts if v.word != NO_RUNS.word]
        return Verdict(started[0], "; ".join(pending), decided=False) if started else NO_RUNS
    words = list(dict.fromkeys(v.word for _, v in decided))
    if len(words) == 1:
        verdict = Verdict(words[0], "; ".join(f"{name}: {v.detail}" for name, v in decided))
    else:
        verdict = Verdict("depends on the study", "; ".join(f"{v.word} for {name}" for name, v in decided))
    if pending:
        verdict = Verdict(verdict.word, f"{verdict.detail}; not decided: {', '.join(pending)}")
    return verdict
