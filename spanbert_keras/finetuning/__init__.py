"""Fine-tuning: the runner every task shares, the paper's grid, the authors' fine-tuned models.

- `runner`: `run_finetuning` (files -> encoder -> task model -> fit with dev
  evaluation -> the best weights, scored and exported), `evaluate_finetuned`,
  `export_finetuned`;
- `grid`: `run_grid`, the learning-rate x batch-size grid of the paper's
  Appendix B, one run directory per cell;
- `released`: `import_finetuned`, the authors' fine-tuned SQuAD 1.1 / 2.0 and
  TACRED models as fine-tuning run directories.

It sits above `training` (optimiser, run directories, distribution) and
`checkpoints` (released encoders to start from): neither imports it.
"""
