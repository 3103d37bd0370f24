"""The Gradio Space of a bench folder: before/after answers of two models and the leaderboard.

:mod:`umu_hf.space.logic` holds everything that does not need Gradio (reading the bench folder, the
questions of a profile, asking models, judging replies, the leaderboard), :mod:`umu_hf.space.app` builds the
``gr.Blocks`` UI on top of it and :mod:`umu_hf.space.cli` adds ``umu-hf space``.
"""
