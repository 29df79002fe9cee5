"""The rubric's activating-vs-random contrast per unit kind: does the judge rate random text lower?

Per unit, the mean 0-3 rating on its activating held-out contexts (drawn per activation level) and on its
uniform random windows (context kind ``random``: the same count for every unit, whatever their activation); per kind, the mean over units of each with a seeded bootstrap CI, and the mean of
the per-unit difference with its CI (units rated on both sides only). A judge that rates random text as
high as activating text shows a difference near 0, whatever the specificity score says.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from autointerp.report.stats import N_RESAMPLES, mean_ci
from autointerp.types import Frozen


class RubricContrast(Frozen):
    """Mean rating on activating vs random held-out contexts for one unit kind."""

    kind: str
    n_units: int = Field(description="Units with ok ratings on both activating and random contexts.")
    activating_mean: float | None = Field(default=None, description="Mean over units of the activating mean rating.")
    activating_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap CI of it.")
    random_mean: float | None = Field(default=None, description="Mean over units of the random-context mean rating.")
    random_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap CI of it.")
    difference_mean: float | None = Field(default=None, description="Mean over units of activating - random.")
    difference_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap CI of it.")
    n_ratings_activating: int = Field(default=0, description="Ok ratings of activating contexts (these units).")
    n_ratings_random: int = Field(default=0, description="Ok ratings of random contexts (these units).")

    @property
    def line(self) -> str:
        """'features: activating 2.1 [1.9, 2.3] vs random 0.4 [0.3, 0.6], difference +1.7 [1.4, 2.0] (n=30 units)'."""
        if self.activating_mean is None:
            return f"{self.kind}s: no unit rated on both activating and random contexts"

        def ci(v: float, c: tuple[float, float] | None, sign: str = "") -> str:
            return f"{v:{sign}.2f} [{c[0]:{sign}.2f}, {c[1]:{sign}.2f}]" if c else f"{v:{sign}.2f}"

        return (f"{self.kind}s: activating {ci(self.activating_mean, self.activating_ci)} vs random "
                f"{ci(self.random_mean, self.random_ci)}, "
                f"difference {ci(self.difference_mean, self.difference_ci, '+')} "
                f"(n={self.n_units} units)")  # fmt: skip


def rubric_contrast(
    judgements: pd.DataFrame, kinds: list[str], *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> tuple[RubricContrast, ...]:
    """One :class:`RubricContrast` per kind from the judgements frame (see ``load.judgements_frame``)."""
    ok = judgements[judgements["ok"]].assign(side=lambda f: f["context_kind"].eq("random").map({False: "act", True: "rand"}))
    out = []
    for kind in kinds:
        sub = ok[ok["kind"] == kind]
        per_unit = sub.groupby(["unit", "side"])["score"].agg(["mean", "size"]).unstack("side")
        if per_unit.empty or "act" not in per_unit["mean"] or "rand" not in per_unit["mean"]:
            out.append(RubricContrast(kind=kind, n_units=0))
            continue
        both = per_unit.dropna(subset=[("mean", "act"), ("mean", "rand")])
        if both.empty:
            out.append(RubricContrast(kind=kind, n_units=0))
            continue
        act = both[("mean", "act")].to_numpy(dtype=float)
        rand = both[("mean", "rand")].to_numpy(dtype=float)
        a, r, d = (mean_ci(x, seed=seed, n_resamples=n_resamples) for x in (act, rand, act - rand))
        out.append(
            RubricContrast(
                kind=kind,
                n_units=len(both),
                activating_mean=a[0],
                activating_ci=(a[1], a[2]),
                random_mean=r[0],
                random_ci=(r[1], r[2]),
                difference_mean=d[0],
                difference_ci=(d[1], d[2]),
                n_ratings_activating=int(both[("size", "act")].sum()),
                n_ratings_random=int(both[("size", "rand")].sum()),
            )
        )
    return tuple(out)
