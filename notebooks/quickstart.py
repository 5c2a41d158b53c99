# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # SpanBERT in Keras: quickstart
#
# Pre-train a tiny SpanBERT on the shipped demo corpus (Jane Austen), watch it
# in TensorBoard, evaluate it, fill masked spans, and export it as a
# SavedModel for TF Serving. Runs on a laptop CPU in about two minutes.

# %%
import os
import tempfile

import tensorflow as tf

import spanbert_keras as sk
from spanbert_keras.data.pretraining_dataset import finite_batches
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.export import export_saved_model
from spanbert_keras.preview import mask_text
from spanbert_keras.preview import render
from spanbert_keras.resources import DEMO_CORPUS
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.callbacks import tensorboard_callbacks

work_dir = tempfile.mkdtemp(prefix="spanbert-quickstart-")
print("writing to", work_dir)

# %% [markdown]
# ## 1. A vocabulary and the span-masked dataset
# A cased WordPiece vocabulary learned from the corpus (about a second), then
# the whole input pipeline in `tf.data`: tokenise, pack single-document
# blocks, mask whole-word spans, build SBO targets.

# %%
vocabulary = sk.build_vocabulary([DEMO_CORPUS], vocab_size=8000, show_progress=False)
print(vocabulary.size, "wordpieces; [MASK] is id", vocabulary.mask_id)

SEQ, BATCH, STEPS = 64, 16, 25
train = pretraining_dataset([DEMO_CORPUS], vocabulary, sequence_length=SEQ, batch_size=BATCH,
                            split="train", steps_per_epoch=STEPS, seed=0)
# Held-out chapters, fixed masks; `finite_batches` records the length so that
# Keras averages exactly these batches.
validation, _ = finite_batches(pretraining_dataset(
    [DEMO_CORPUS], vocabulary, sequence_length=SEQ, batch_size=BATCH,
    split="validation", num_epochs=1, shuffle=False), max_batches=5)
batch = next(iter(train))
{key: (value.dtype.name, tuple(value.shape)) for key, value in batch.items()}

# %% [markdown]
# How one sentence gets masked: spans of whole words, one treatment per span
# (80% `[MASK]`, 10% random, 10% kept), and the two boundary tokens the SBO
# head predicts from.

# %%
tokenizer, masked, _ = mask_text(
    "It is a truth universally acknowledged, that a single man in possession "
    "of a good fortune, must be in want of a wife.", vocabulary, seed=1)
print(render(tokenizer, masked, color=False))

# %% [markdown]
# ## 2. Pre-train with `model.fit`
# The tiny preset (2 layers, hidden 128); the loss is MLM + SBO and both
# parts and their accuracies are tracked.

# %%
config = sk.PretrainConfig(model=sk.ModelConfig.from_size("tiny"))
config.training.learning_rate, config.training.warmup_steps = 1e-3, 10
model = build_pretrainer(config.model, vocabulary.size, config.training,
                         sequence_length=SEQ, total_steps=2 * STEPS)
log_dir = os.path.join(work_dir, "logs")
history = model.fit(train, epochs=2, steps_per_epoch=STEPS, validation_data=validation,
                    callbacks=tensorboard_callbacks(log_dir, vocabulary, eval_data=validation,
                                                    text_every_n_steps=STEPS),
                    verbose=2)

# %% [markdown]
# ## 3. TensorBoard
# Per-step losses, accuracies, learning rate and gradient norm; masked-span
# predictions as text; span-length histograms.

# %%
if not os.environ.get("SPANBERT_KERAS_NOTEBOOK_TEST"):  # not started when the notebook is tested
    get_ipython().run_line_magic("load_ext", "tensorboard")  # noqa: F821
    get_ipython().run_line_magic("tensorboard", f"--logdir {log_dir}")  # noqa: F821

# %% [markdown]
# ## 4. Evaluate on held-out chapters

# %%
results = model.evaluate(validation, return_dict=True, verbose=0)
{key: round(float(value), 4) for key, value in results.items()}

# %% [markdown]
# ## 5. Export a SavedModel and fill masked spans with it
# The export needs neither this package nor keras-hub to load: only
# TensorFlow and tensorflow-text (for the in-graph tokenizer).

# %%
export_dir = os.path.join(work_dir, "saved_models", "spanbert-quickstart", "1")
export_saved_model(model, vocabulary, export_dir, sequence_length=SEQ)
print(sorted(os.listdir(export_dir)))

import tensorflow_text  # noqa: E402,F401  (registers the tokenizer ops)

served = tf.saved_model.load(export_dir)
print(sorted(served.signatures))
filled = served.signatures["fill_spans"](text=tf.constant(["Emma was the [MASK] [MASK] of the two daughters."]))
{key: value.numpy()[0][:2] for key, value in filled.items() if key.endswith("top_tokens")}

# %%
encoded = served.signatures["serving_default"](text=tf.constant(["Emma Woodhouse, handsome, clever, and rich."]))
keras_outputs = model({"token_ids": encoded["token_ids"], "padding_mask": encoded["padding_mask"]})
print("max |SavedModel - Keras|:",
      float(tf.reduce_max(tf.abs(encoded["sequence_output"] - keras_outputs["sequence_output"]))))
