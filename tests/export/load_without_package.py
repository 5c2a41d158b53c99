"""Loads an exported SavedModel the way a serving client would, and calls it.

Run in a fresh process by the export tests:

    python load_without_package.py MODE SAVED_MODEL_DIR INPUTS.npz OUTPUTS.npz

MODE `text` imports only `tensorflow` and `tensorflow_text`; MODE `portable`
imports only `tensorflow`. INPUTS.npz holds `SIGNATURE/INPUT` arrays; every
signature of the SavedModel must have inputs there and is called. The outputs
are written as `SIGNATURE/OUTPUT` arrays (strings as bytes), and a JSON line
on stdout reports the signatures and which packages were imported.
"""

import json
import sys

import numpy as np
import tensorflow as tf

MODE, MODEL_DIR, INPUTS, OUTPUTS = sys.argv[1:5]
if MODE == "text":
    import tensorflow_text  # noqa: F401  (registers the tokeniser ops)
elif MODE != "portable":
    raise SystemExit(f"unknown mode {MODE!r}")

loaded = tf.saved_model.load(MODEL_DIR)
inputs = np.load(INPUTS)
results = {}
for name in sorted(loaded.signatures):
    prefix = name + "/"
    kwargs = {k[len(prefix):]: tf.constant(inputs[k]) for k in inputs.files if k.startswith(prefix)}
    if not kwargs:
        raise SystemExit(f"no inputs given for signature {name!r}")
    for key, value in loaded.signatures[name](**kwargs).items():
        value = value.numpy()
        if value.dtype == object:
            value = value.astype(bytes)
        results[prefix + key] = value
np.savez(OUTPUTS, **results)
print(
    json.dumps(
        {
            "signatures": sorted(loaded.signatures),
            "imported": {
                module: module in sys.modules
                for module in ("spanbert_keras", "keras_hub", "tensorflow_text")
            },
        }
    )
)
