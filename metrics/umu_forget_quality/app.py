"""The umu_forget_quality metric's Hub Space: the unlearned and the retain model's truth ratios in, the module's
result out. evaluate's stock widget does not fit: it offers only the module's rows (unlearned_truth_ratios), not
the retain model's truth ratios given to compute."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import evaluate

from umu_hf.metric_modules import numbers_from_text

if TYPE_CHECKING:
    import gradio as gr

HERE = Path(__file__).resolve().parent


def score(unlearned_truth_ratios: str, retain_truth_ratios: str) -> dict:
    """The module on the typed numbers (loaded by path from beside this file, in memory: no cache files)."""
    module = evaluate.load(str(HERE / "umu_forget_quality.py"), keep_in_memory=True)
    return module.compute(
        unlearned_truth_ratios=numbers_from_text(unlearned_truth_ratios, "unlearned_truth_ratios"),
        retain_truth_ratios=numbers_from_text(retain_truth_ratios, "retain_truth_ratios"),
    )


def build() -> gr.Interface:
    """The Space's interface; its article is the metric card below the header."""
    import gradio as gr
    from evaluate.utils.gradio import parse_readme

    return gr.Interface(
        fn=score,
        inputs=[
            gr.Textbox(label="unlearned_truth_ratios", placeholder="0.01, 0.02, 0.03, 0.04, 0.05"),
            gr.Textbox(label="retain_truth_ratios", placeholder="0.8, 0.9, 1.0, 1.1, 1.2"),
        ],
        outputs=gr.JSON(label="umu_forget_quality"),
        title="Metric: umu_forget_quality",
        description="Truth ratios of the forget set's multiple-choice items, numbers separated by commas.",
        article=parse_readme(HERE / "README.md"),
        examples=[["0.01, 0.02, 0.03, 0.04, 0.05", "0.8, 0.9, 1.0, 1.1, 1.2"]],
    )


if __name__ == "__main__":
    build().launch(show_error=True)
