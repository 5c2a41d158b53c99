"""Reading PyTorch `.bin` / `.pt` files as data, never as code.

`torch.load(weights_only=True)` rebuilds tensors and plain containers only.
Beyond those, a fairseq training checkpoint needs `argparse.Namespace` (its
`args`), and the authors' `args.config` is their `BertConfig`, a bag of
attributes: it is rebuilt as an inert stand-in (`PickledConfig`), their class
is never imported. Any other global (a function to call, another class) makes
the load fail with a clear error, so a pickle that would run code is refused.
"""

import argparse
import os

TORCH_EXTRA = "pip install 'spanbert-keras[torch]'"
# The authors' configuration classes that a fairseq checkpoint pickles.
CONFIG_CLASSES = (
    "fairseq.models.pair_bert.BertConfig",
    "fairseq.models.hf_bert.BertConfig",
    "pytorch_pretrained_bert.modeling.BertConfig",
)


class PickledConfig:
    """An inert stand-in for a pickled configuration object: its attributes only."""

    def __repr__(self):
        return f"PickledConfig({vars(self)!r})"


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
            needs anything beyond tensors, containers, `argparse.Namespace`
            and the authors' config classes (a pickle that would run code).
    """
    torch = import_torch(path)
    allowed = [argparse.Namespace] + [(PickledConfig, name) for name in CONFIG_CLASSES]
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
                "containers and argparse.Namespace are accepted."
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
