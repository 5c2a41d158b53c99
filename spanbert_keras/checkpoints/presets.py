"""Scoring a built-in preset (`spanbert_keras.resources.presets`) loaded by name."""

import dataclasses

from spanbert_keras.checkpoints.load import load_pretrained
from spanbert_keras.resources.presets import preset_config
from spanbert_keras.training.pretrain import datasets


def evaluate_preset(name, batches=None):
    """Held-out MLM / SBO loss and accuracy of a built-in preset, loaded by name.

    The batches are those its pre-training scored every epoch (the
    validation chapters of its corpus, fixed masks, the first
    `training.eval_steps` of them, or `batches`).

    Returns:
        dict with `loss`, `mlm_loss`, `sbo_loss`, `mlm_accuracy`,
        `sbo_accuracy` and the number of `batches`.
    """
    config = preset_config(name)
    if batches is not None:
        config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, eval_steps=int(batches)))
    model = load_pretrained(name, log=None)  # with the preprocessor it was trained with
    _, held_out = datasets(config, model.preprocessor, config.data.corpus, num_epochs=1)
    results = model.evaluate(held_out, return_dict=True, verbose=0)
    return {"batches": int(held_out.cardinality()),
            **{key: float(value) for key, value in results.items()}}
