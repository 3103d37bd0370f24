"""The Space's tables: a model's 2x2 alignment table and the leaderboard, read from the bench's files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.bench.manifest import resolve_inside
from umu_hf.errors import UmuError
from umu_hf.leaderboard import direction
from umu_hf.scoring import ALIGNMENT_KEYS, headline_metric
from umu_hf.space.verdicts import ALIGNMENT_LABELS

if TYPE_CHECKING:

    pass


def directions_note() -> str:
    """What the leaderboard's arrows mean, in words (metric names from :mod:`umu_hf.scoring`, arrows from
    :mod:`umu_hf.leaderboard`)."""
    forget = f"{headline_metric('classification', 'forget')}, {headline_metric('generation', 'forget')}"
    keep = f"{headline_metric('classification', 'retain')}, {headline_metric('generation', 'retain')}"
    return (
        f"**{direction('forget')} lower is better** on the forget set ({forget}): the knowledge should be "
        f"gone in *both* modalities. **{direction('retain')} higher is better** on the retain and real sets "
        f"({keep}): the rest must survive."
    )


@dataclass
class AlignmentTable:
    """A model's 2x2 alignment tables on one set, per task, as its ``results.json`` stores them
    (``sets[set][task]``: :data:`umu_hf.scoring.ALIGNMENT_KEYS` in percent of ``n`` question pairs); ``note``
    says why there is none."""

    model: str
    set_name: str
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""

    def headers(self) -> list[str]:
        return ["task", "question pairs", *ALIGNMENT_LABELS.values()]

    def table(self) -> list[list[Any]]:
        """One row per task: the number of pairs, then each cell as ``count (percent %)``."""
        rows = []
        for task, cells in self.tasks.items():
            n = int(cells["n"])
            rows.append(
                [task, n, *(f"{round(cells[k] * n / 100)} ({cells[k]:.1f}%)" for k in ALIGNMENT_KEYS)]
            )
        return rows


#: the Robustness tab of a bench run without ``--robustness``
NO_ROBUSTNESS = ("This bench has no robustness numbers. `umu-hf bench --robustness` asks every forget and retain "
                 "question again in other wordings, with changed portraits and of a quantized copy, and scores "
                 "extraction (docs/protocol.md, Robustness).")


@dataclass
class Leaderboard:
    """The bench's leaderboard files: title, column headers (with direction arrows), rows, plot path."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    plot: Path | None
    keys: list[str] = field(default_factory=list)
    note: str = ""
    #: each column's number format (``.1f`` for accuracies; privacy columns carry their own)
    formats: list[str] = field(default_factory=list)
    #: the whole leaderboard.json (per-modality cells, selectivity, trajectories, …)
    payload: dict[str, Any] = field(default_factory=dict)

    def headers(self) -> list[str]:
        return ["forget %", "model", *self.columns]

    def details(self) -> str:
        """The per-modality, selectivity/misalignment and matched-forgetting tables as Markdown ("" when the bench
        predates them)."""
        from umu_hf.leaderboard import cell_text, modality, trajectory

        if not self.payload.get("rows"):
            return ""
        return "\n".join(modality.markdown(self.payload, cell_text) + trajectory.markdown(self.payload)).strip()

    def robustness(self) -> str:
        """The robustness table as Markdown (:mod:`umu_hf.leaderboard.robustness`), or a line saying how to get
        one when the bench ran without ``--robustness``."""
        from umu_hf.leaderboard import cell_text
        from umu_hf.leaderboard.robustness import markdown

        text = "\n".join(markdown(self.payload, cell_text)).strip() if self.payload.get("rows") else ""
        return text or NO_ROBUSTNESS

    def trajectory_figure(self) -> Any:
        """A matplotlib figure of the trajectories (forget vs retain accuracy per method), or None without them."""
        from umu_hf.leaderboard.plot import trajectory_figure

        return trajectory_figure(self.payload)

    def table(self) -> list[list[Any]]:
        """Rows as lists in :meth:`headers` order: ``mean ± sd`` over seeds, ``*`` where the cell differs from
        vanilla beyond its uncertainty, ``"–"`` where it could not be computed."""
        from umu_hf.leaderboard import cell_text

        formats = self.formats or [".1f"] * len(self.keys)
        return [
            [row.get("forget_ratio", "–"), row.get("model", "–")]
            + [cell_text(row["cells"].get(k) or {}, f) for k, f in zip(self.keys, formats, strict=True)]
            for row in self.rows
        ]


def read_leaderboard(bench_dir: str | Path) -> Leaderboard:
    """``leaderboard.json`` (and ``leaderboard.png`` when present) of a bench folder."""
    root = Path(bench_dir)
    path = resolve_inside(root, "leaderboard.json")  # the one rule for every file the Space opens
    if not path.is_file():
        raise UmuError(f"{path} not found: run `umu-hf bench --out {bench_dir}` to create the leaderboard")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        specs = list(payload["columns"])
        headers, keys = [str(c["header"]) for c in specs], [str(c["key"]) for c in specs]
        formats = [str(c.get("format", ".1f")) for c in specs]
        for f in formats:
            format(0.0, f)  # a format that is not a float format is a broken file, said as such below
        rows = [dict(r) for r in payload["rows"]]
        if not all(isinstance(r.get("cells"), dict) for r in rows):
            raise TypeError("rows without cells")
    except (ValueError, KeyError, TypeError) as exc:
        raise UmuError(f"{path}: not a leaderboard written by umu-hf ({exc}); rerun `umu-hf bench`") from None
    plot = resolve_inside(root, "leaderboard.png")
    return Leaderboard(
        str(payload.get("title", "UMU-Bench")), headers, rows, plot if plot.is_file() else None, keys,
        str(payload.get("significance", "")), formats, payload,
    )
