"""The leaderboard's columns: headline metrics per set and task (with their direction), the privacy columns
per modality, and the notes that explain them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from umu_hf.data.schema import SETS, TASKS
from umu_hf.scoring import LOWER_IS_BETTER, headline_metric

_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}
BASELINE = "vanilla"
PRIVACY_NOTE = (
    "Privacy (min_k = Min-K% attack at k = 0.4, MUSE's, per modality): MIA AUC of the forget set against "
    "never-trained holdout profiles (0.5 = not recognised); FQ = forget quality, the KS-test p-value between the "
    "model's and the retain model's forget truth ratios (1 = indistinguishable from a model that never saw the "
    "forget people); "
    "PrivLeak = MUSE's, in % (its AUC scores members low, 1 − ours: (AUC_retain − AUC) / "
    "(1 − AUC_retain)): 0 = no leak, < 0 under-unlearned (still recognised; about −100 = memorised), > 0 "
    "over-unlearned. "
    "retain_model = vanilla's fine-tuning without the forget people, the reference (its FQ and PrivLeak are "
    "blank). Privacy cells: mean ± sd over seeds, no significance marks (one number per seed)."
)
SIGNIFICANCE_NOTE = (
    "paired t interval with two-way cluster-robust variance over seeds and people (questions about one person "
    "are one cluster; df = min(seeds, people) − 1): a gap is significant when the 95 % interval of the mean "
    "difference excludes 0; with one seed there are no marks (not enough seeds)"
)


#: the model trained without the forget people (``bench --privacy``): the reference of forget quality and PrivLeak
RETAIN_MODEL = "retain_model"
#: rows that are references, not unlearning methods (left out of the method-vs-method comparisons)
REFERENCE_ROWS = (BASELINE, RETAIN_MODEL)
_MOD_LABEL = {"unimodal": "uni", "multimodal": "mm"}


@dataclass(frozen=True)
class PrivacyColumn:
    """One privacy column: its key (``privacy/<name>_<modality>``), header, where the value sits in a results.json
    ``privacy`` block, the better direction (``higher`` / ``closer to 0.5`` / ``closer to 0``) and its format."""

    name: str
    modality: str
    label: str
    arrow: str
    better: str
    fmt: str

    @property
    def key(self) -> str:
        return f"privacy/{self.name}_{self.modality}"

    @property
    def header(self) -> str:
        return f"{self.label} {_MOD_LABEL[self.modality]} {self.arrow}"

    def value(self, block: Mapping[str, Any]) -> float | None:
        """This column's number in a ``privacy`` block, or None (no block, unavailable, no retain model)."""
        from umu_hf.privacy.reference import HEADLINE_ATTACK

        if self.name == "mia_auc":
            value = block.get("mia", {}).get(HEADLINE_ATTACK, {}).get(self.modality)
        elif self.name == "forget_quality":
            value = block.get("forget_quality", {}).get(self.modality, {}).get("forget_quality")
        else:
            value = block.get("privleak", {}).get(HEADLINE_ATTACK, {}).get(self.modality)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


PRIVACY_COLUMNS: tuple[PrivacyColumn, ...] = tuple(
    PrivacyColumn(name, modality, label, arrow, better, fmt)
    for name, label, arrow, better, fmt in (
        ("mia_auc", "MIA AUC", "→0.5", "closer to 0.5", ".2f"),
        ("forget_quality", "FQ", "↑", "higher", ".2g"),
        ("privleak", "PrivLeak %", "→0", "closer to 0", ".1f"),
    )
    for modality in ("unimodal", "multimodal")
)


def direction(set_name: str) -> str:
    """``"↓"`` where the set's headline metrics are lower-is-better (forget), ``"↑"`` elsewhere."""
    return "↓" if headline_metric("classification", set_name) in LOWER_IS_BETTER else "↑"


def columns() -> list[tuple[str, str, str]]:
    """``(set, task, header)`` of every numeric column, e.g. ``("forget", "cloze", "forget Cloze AccF ↓")``."""
    return [
        (s, t, f"{s} {_TASK_LABEL[t]} {headline_metric(t, s)} {direction(s)}") for s in SETS for t in TASKS
    ]


def column_specs(privacy: bool = False) -> list[dict[str, str]]:
    """leaderboard.json's description of each column: key, header, set, task, metric and direction (and, with
    ``privacy``, the privacy columns: key, header, metric, modality, direction, format)."""
    from umu_hf.privacy.reference import HEADLINE_ATTACK

    specs = [
        {"key": f"{s}/{t}", "header": h, "set": s, "task": t, "metric": headline_metric(t, s),
         "direction": "lower" if direction(s) == "↓" else "higher"}
        for s, t, h in columns()
    ]
    if privacy:
        specs += [
            {"key": c.key, "header": c.header, "set": "privacy", "metric": c.name, "modality": c.modality,
             "direction": c.better, "format": c.fmt, "attack": HEADLINE_ATTACK if c.name != "forget_quality" else None}
            for c in PRIVACY_COLUMNS
        ]
    return specs


