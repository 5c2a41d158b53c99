"""Official scores of the fine-tuning tasks, one module per task family.

Plain Python / NumPy on predictions and gold labels (no TensorFlow), each
module stating the definition it reproduces and tested against it.
"""
