"""The UMU-Bench Space: before/after answers of the bench's models and the leaderboard.

The bench folder (the output of `umu-hf bench`) is $BENCH_DIR, or `bench/` beside this file. On a Hub Space
the app listens on 0.0.0.0 (the Space sets SPACE_ID); elsewhere on 127.0.0.1 unless $GRADIO_SERVER_NAME says
otherwise.
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

if __name__ == "__main__":
    from umu_hf.space.app import DEFAULT_HOST, DEFAULT_PORT, build_app, launch

    bench_dir = os.environ.get("BENCH_DIR") or str(Path(__file__).resolve().with_name("bench"))
    host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else DEFAULT_HOST)
    port = int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT)
    launch(build_app(bench_dir), host=host, port=port)
