"""The Gradio Space of a bench folder: before/after answers of two models and the leaderboard.

Everything that does not need Gradio: :mod:`umu_hf.space.logic` (:class:`BenchSpace`: reading the bench folder,
the questions of a profile, asking models), :mod:`umu_hf.space.verdicts` (judging replies, comparing two models),
:mod:`umu_hf.space.tables` (the alignment table, the leaderboard) and :mod:`umu_hf.space.text` (what visitors may
type and see). :mod:`umu_hf.space.app` builds the ``gr.Blocks`` UI on top of them and :mod:`umu_hf.space.cli`
adds ``umu-hf space``.
"""
