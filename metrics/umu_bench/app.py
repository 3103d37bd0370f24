"""The metric's Hub Space: evaluate's stock widget for one config (UMU_BENCH_CONFIG, default classification)."""

import os
from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

if __name__ == "__main__":
    # by path: the Space holds umu_bench.py beside this file, whatever the Space is called
    module = evaluate.load(
        str(Path(__file__).with_name("umu_bench.py")), os.environ.get("UMU_BENCH_CONFIG", "classification")
    )
    launch_gradio_widget(module)
