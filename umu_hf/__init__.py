"""umu-hf: UMU-Bench, the multimodal unlearning benchmark, on the Hugging Face stack.

Nothing heavy is imported here: ``import umu_hf`` is instant. Import the pieces you need::

    from umu_hf.data import load_umu_split
    from umu_hf.scoring import classification_scores
"""

__version__ = "0.1.0"
