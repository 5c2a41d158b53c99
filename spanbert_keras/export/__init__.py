"""Export: SavedModels for TF Serving (text and portable ids) and TFLite files."""

from spanbert_keras.export.archive import read_export_info
from spanbert_keras.export.archive import saved_model_signatures
from spanbert_keras.export.archive import tflite_path
from spanbert_keras.export.saved_model import export_saved_model
from spanbert_keras.export.tflite import export_tflite

__all__ = [
    "export_saved_model",
    "export_tflite",
    "read_export_info",
    "saved_model_signatures",
    "tflite_path",
]
