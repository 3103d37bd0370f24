"""Models: the embedded tiny LLaVA (:mod:`.tiny`), loading any checkpoint (:mod:`.loading`), and the per-family
adapters that turn a benchmark question into model inputs and the output back into a reply (:mod:`.adapters`).

Nothing heavy is imported here; import the submodules you need::

    from umu_hf.models.loading import load_model
    from umu_hf.models.adapters import get_adapter
"""
