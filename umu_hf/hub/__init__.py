"""Publishing on the Hugging Face Hub: a bench model as a model repo whose card carries its UMU-Bench results
(``model-index``), and ``umu-hf hub push`` for such a folder, a dataset folder or a whole bench folder."""
