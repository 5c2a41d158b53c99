"""Checkpoint interop: start from released BERT / SpanBERT weights, hand results to other tools.

- `load_pretrained(path)`: a `SpanBertPretrainer` from a Hugging Face
  checkpoint (hub copies, the authors' tarballs, `transformers`' files,
  `.bin` or `.safetensors`), the authors' fairseq `model.pt` (both heads) or
  a keras-hub preset;
- `save_pretrained(model, dir, vocabulary)`: a Hugging Face checkpoint
  (`BertForPreTraining` layout, SBO head under `cls.pair_target_predictions`)
  or a keras-hub preset;
- `import_checkpoint` / `convert_run`: the same for run directories
  (`spanbert-keras import` / `convert`);
- `load_encoder(init)`: the encoder and vocabulary of any of these, of a
  built-in preset or of a run directory (the resolver behind `--init` and
  every `from_preset`).

The authors' fine-tuned models are imported by
`spanbert_keras.finetuning.released.import_finetuned` (fine-tuning sits above
this package).
"""

from spanbert_keras.checkpoints.encoder import load_encoder
from spanbert_keras.checkpoints.load import ImportReport
from spanbert_keras.checkpoints.load import load_pretrained
from spanbert_keras.checkpoints.run_import import convert_run
from spanbert_keras.checkpoints.run_import import import_checkpoint
from spanbert_keras.checkpoints.save import save_pretrained

__all__ = [
    "ImportReport",
    "convert_run",
    "import_checkpoint",
    "load_encoder",
    "load_pretrained",
    "save_pretrained",
]
