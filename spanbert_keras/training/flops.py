"""Model FLOPs per token, for model FLOPs utilisation (MFU) in benchmarks."""

import math

# Dense bf16/fp16 tensor-core peaks (no sparsity), FLOP/s, by device-name substring.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "A10G": 125e12,
    "V100": 125e12,
    "T4": 65e12,
}


def flops_per_token(
    config,
    vocabulary_size=28996,
    seq_len=None,
    targets_per_token=0.15,
    sbo=True,
    training=True,
):
    """Matmul FLOPs per input token of the SpanBERT model.

    Counts 2 FLOPs per multiply-add of every matmul (PaLM / nanoGPT
    convention): per layer the Q, K, V and output projections (4 H^2), the
    feed-forward network (2 H F) and attention itself (QK^T and AV:
    2 L H); the MLM head (H^2 + H V) and, with `sbo`, the SBO head
    ((2H + P) H + H^2 + H V) at `targets_per_token` prediction slots per
    token. Embedding lookups, LayerNorm, softmax, activations and the unused
    pooler are left out. Training = 3x forward (backward = 2x forward).

    Args:
        config: a `spanbert_keras.config.ModelConfig`.
        vocabulary_size: int (default: BERT-cased's 28,996).
        seq_len: int, tokens per sequence (default: `config.max_sequence_length`).
        targets_per_token: float, prediction slots per token; the heads run on
            every padded slot, so pass `max_predictions / seq_len` for cost.
        sbo: bool, include the SBO head.
        training: bool, forward + backward (True) or forward only.

    Returns:
        float, FLOPs per token.

    Example:

    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.training.flops import flops_per_token
    >>> round(flops_per_token(ModelConfig.from_size("base"), seq_len=512) / 1e6)
    609
    """
    hidden = config.hidden_dim
    seq_len = int(seq_len or config.max_sequence_length)
    layer = 2 * (4 * hidden * hidden + 2 * hidden * config.intermediate_dim)
    layer += 2 * 2 * seq_len * hidden
    forward = config.num_layers * layer
    forward += targets_per_token * 2 * (hidden * hidden + hidden * vocabulary_size)
    if sbo:
        sbo_in = 2 * hidden + config.position_embedding_dim
        forward += targets_per_token * 2 * (
            sbo_in * hidden + hidden * hidden + hidden * vocabulary_size
        )
    return 3.0 * forward if training else float(forward)


def peak_flops(device_name):
    """Dense half-precision peak FLOP/s for a known accelerator name, else None."""
    for key, value in PEAK_FLOPS.items():
        if key.lower() in (device_name or "").lower():
            return value
    return None


def model_flops_utilisation(tokens_per_second, flops_per_token_value, peak):
    """Achieved model FLOP/s over the device peak (None when the peak is unknown)."""
    if not peak or not math.isfinite(tokens_per_second):
        return None
    return tokens_per_second * flops_per_token_value / peak
