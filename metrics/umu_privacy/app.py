"""The umu_privacy metric's Hub Space: members' and non-members' attack scores (and optionally the retain model's
AUC) in, the module's result out. evaluate's stock widget does not fit: it offers only the module's rows
(member_scores), not the non-member scores given to compute."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import evaluate

from umu_hf.metric_modules import numbers_from_text

if TYPE_CHECKING:
    import gradio as gr

HERE = Path(__file__).resolve().parent


def score(member_scores: str, nonmember_scores: str, retain_auc: float | None = None) -> dict:
    """The module on the typed numbers (loaded by path from beside this file, in memory: no cache files)."""
    module = evaluate.load(str(HERE / "umu_privacy.py"), keep_in_memory=True)
    return module.compute(
        member_scores=numbers_from_text(member_scores, "member_scores"),
        nonmember_scores=numbers_from_text(nonmember_scores, "nonmember_scores"),
        retain_auc=retain_auc,
    )


def build() -> gr.Interface:
    """The Space's interface; its article is the metric card below the header."""
    import gradio as gr
    from evaluate.utils.gradio import parse_readme

    return gr.Interface(
        fn=score,
        inputs=[
            gr.Textbox(label="member_scores", placeholder="-0.1, -0.3, -2.0"),
            gr.Textbox(label="nonmember_scores", placeholder="-2.0, -3.5"),
            gr.Number(label="retain_auc (optional)", value=None),
        ],
        outputs=gr.JSON(label="umu_privacy"),
        title="Metric: umu_privacy",
        description="Attack scores (higher = more likely a member), numbers separated by commas.",
        article=parse_readme(HERE / "README.md"),
        examples=[["-0.1, -0.3, -2.0", "-2.0, -3.5", 0.5]],
    )


if __name__ == "__main__":
    build().launch(show_error=True)
