"""Which runs their training budget ended rather than convergence: a run whose last validation
check still beat every earlier one was improving when it stopped, so its test numbers say what
the budget allowed, not what the model can reach. The report names them beside a study's
verdict, since a comparison between a converged model and one cut short says little of either.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from tsssm.claims.spec import ENTITY, STILL_IMPROVING, Metric, Study


MIN_LAST_GAIN = 0.01
"""The share of a run's whole gain (first check to last) that its last check must add to the
best before it to count as improving: a curve that has flattened (an accuracy going from 0.9987
to 0.9993) is converged for the comparison's purpose."""


def still_improving(history: Iterable[tuple[int, float]], metric: Metric) -> float:
    """1.0 when a run's last (step, value) validation check beats every earlier one by at least
    ``MIN_LAST_GAIN`` of its whole gain, 0.0 otherwise (a plateau included), NaN with fewer than
    two checks. A step logged twice counts once, at its last value."""
    by_step = dict(sorted(history, key=lambda check: check[0]))
    values = pd.Series(list(by_step.values()), dtype=float).dropna()
    if len(values) < 2:
        return float("nan")
    sign = -1.0 if metric.lower_is_better else 1.0
    gains = sign * (values - values.iloc[0])  # > 0: better than the first check
    last_gain = gains.iloc[-1] - gains.iloc[:-1].max()
    return float(last_gain > 0 and last_gain >= MIN_LAST_GAIN * gains.iloc[-1])


def progress_notes(study: Study, frame: pd.DataFrame) -> list[str]:
    """A note naming, per entity, how many runs were still improving at their last check; none
    when no run was (or no history was read)."""
    if study.validation is None or STILL_IMPROVING not in frame or frame.empty:
        return []
    flags = frame[STILL_IMPROVING]
    improving = frame.loc[flags == 1]
    if improving.empty:
        return []
    known = frame.loc[flags.notna()]
    counts = ", ".join(f"{study.entity_name} {entity}: {len(runs)} of "
                       f"{(known[ENTITY] == entity).sum()}"
                       for entity, runs in improving.groupby(ENTITY, sort=False))
    return [f"{len(improving)} of {len(known)} run(s) were still improving at their last "
            f"validation check (their {study.validation.label} there beat every earlier check's "
            f"by {MIN_LAST_GAIN:.0%} of their whole gain or more), so their training budget "
            f"ended them, not convergence ({counts})"]
