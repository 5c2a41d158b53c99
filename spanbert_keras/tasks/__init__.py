"""Fine-tuning tasks: one module per task, each defining a `FinetuneTask` named `TASK`.

`get_task("squad")` imports `spanbert_keras.tasks.squad` and returns its
`TASK`; the runner (`spanbert_keras.finetuning.runner`) and the CLI
(`spanbert-keras finetune TASK ...`) know tasks only through it.
"""

import importlib

TASK_NAMES = ("squad", "tacred", "glue", "ner", "coref")


def get_task(name):
    """The `FinetuneTask` called `name` (one of `TASK_NAMES`)."""
    if name not in TASK_NAMES:
        raise ValueError(f"Unknown fine-tuning task {name!r}; choose one of {list(TASK_NAMES)}.")
    return importlib.import_module(f"spanbert_keras.tasks.{name}").TASK
