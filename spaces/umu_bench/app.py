"""The UMU-Bench Space: before/after answers of the bench's models and the leaderboard.

The bench folder (the output of `umu-hf bench`) is $BENCH_DIR; else the bench folder held in the Hub dataset repo
$BENCH_REPO (in its sub-folder $BENCH_REPO_SUBDIR when set; $BENCH_REPO_REVISION pins a commit), downloaded at
start; else `bench/` beside this file. On a Hub Space the app listens on 0.0.0.0 (the Space sets SPACE_ID);
elsewhere on 127.0.0.1 unless $GRADIO_SERVER_NAME says otherwise.
"""

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

if __name__ == "__main__":
    from umu_hf.space.app import DEFAULT_PORT, build_app, launch
    from umu_hf.space.source import resolve_bench, space_host

    bench_dir = resolve_bench(os.environ, Path(__file__).resolve().parent)
    port = int(os.environ.get("GRADIO_SERVER_PORT") or DEFAULT_PORT)
    launch(build_app(bench_dir), host=space_host(), port=port)
