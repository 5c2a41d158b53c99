"""Reading PyTorch `.bin` / `.pt` files as data, never as code.

`torch.load(weights_only=True)` rebuilds tensors and plain containers only.
Beyond those, a fairseq training checkpoint needs `argparse.Namespace` (its
`args`); the authors' `args.config` is their `BertConfig`, and the trainer's
`extra_state["train_meters"]` holds `fairseq.meters` objects (average, time
and stopwatch meters). Each is a bag of attributes, rebuilt as an inert
stand-in (`PickledObject`): their classes are never imported and no method
of theirs runs. NumPy scalars (a meter's value) are rebuilt as NumPy
scalars. Any other global (a function to call, another class) makes the load
fail with a clear error, so a pickle that would run code is refused.
"""

import argparse
import os

TORCH_EXTRA = "pip install 'spanbert-keras[torch]'"
# The authors' classes that a fairseq training checkpoint pickles: their
# configuration (in `args.config`) and the trainer's meters (in `extra_state`).
CONFIG_CLASSES = (
    "fairseq.models.pair_bert.BertConfig",
    "fairseq.models.hf_bert.BertConfig",
    "pytorch_pretrained_bert.modeling.BertConfig",
)
METER_CLASSES = (
    "fairseq.meters.AverageMeter",
    "fairseq.meters.TimeMeter",
    "fairseq.meters.StopwatchMeter",
)
# How NumPy 1 and 2 pickle a scalar: the function that rebuilds one from its
# dtype and bytes, and the dtype.
NUMPY_SCALAR = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")


class PickledObject:
    """An inert stand-in for a pickled object of the authors': its attributes only."""

    def __repr__(self):
        return f"PickledObject({vars(self)!r})"


def _numpy_globals():
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(code)) for code in "?bBhHiIlLqQefdg"]
    return [(scalar, name) for name in NUMPY_SCALAR] + [np.dtype] + dtypes


def import_torch(path):
    """Imports torch, or says which extra to install to read `path`."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"Reading {path} needs PyTorch, an optional dependency: {TORCH_EXTRA}. "
            "Checkpoints in safetensors format need no PyTorch."
        ) from None
    return torch


def load_torch_file(path):
    """The object pickled in a `.bin` / `.pt` file, tensors on the CPU.

    Raises:
        ImportError: torch is not installed (the message names the extra).
        ValueError: the file is not a PyTorch checkpoint, or its pickle
            needs anything beyond tensors, containers, NumPy scalars,
            `argparse.Namespace` and the authors' config and meter classes
            (a pickle that would run code).
    """
    torch = import_torch(path)
    allowed = ([argparse.Namespace] + _numpy_globals()
               + [(PickledObject, name) for name in CONFIG_CLASSES + METER_CLASSES])
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as error:  # every failure is reported the same way
        import pickle

        reason = str(error).strip().splitlines()
        detail = next((line for line in reason if "global" in line.lower()), reason[0] if reason else "")
        detail = detail.split(" Please use")[0].strip()
        if isinstance(error, pickle.UnpicklingError):
            raise ValueError(
                f"Refused to read {path}: its pickle asks for more than tensors and plain "
                f"data ({detail}). A checkpoint is data, not code: only tensors, "
                "containers, NumPy scalars, argparse.Namespace and the authors' config "
                "and meter classes are accepted."
            ) from None
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {detail}") from None


def torch_state_to_numpy(state, source):
    """{name: NumPy array} of a PyTorch state dict (bfloat16 widened to float32)."""
    torch = import_torch(source)
    arrays = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        arrays[str(key)] = value.numpy()
    return arrays
