"""``umu-hf bench``: the whole benchmark end to end (data → vanilla → unlearn → evaluate → leaderboard)."""
