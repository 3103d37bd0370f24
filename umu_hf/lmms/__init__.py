"""UMU-Bench as lmms-eval tasks: :mod:`.tasks` writes the task folder, :mod:`.hooks` is what its ``utils.py``
calls at run time."""
