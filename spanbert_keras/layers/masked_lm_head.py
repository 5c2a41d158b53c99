"""BERT's masked-LM head, decoding through the tied input embedding."""

import keras
import keras_hub
from keras import ops


@keras.saving.register_keras_serializable(package="spanbert_keras")
class BertMaskedLMHead(keras_hub.layers.MaskedLMHead):
    """keras-hub's `MaskedLMHead` with its vocabulary bias cast to the logits' dtype.

    keras-hub adds its float32 bias to half-precision logits: under a mixed
    policy that raises in eager mode ("cannot compute AddV2 as input #1 was
    expected to be a half tensor") and silently promotes the logits to
    float32 inside `tf.function`. Same weights, names and config otherwise;
    the logits come out in the compute dtype, like the SBO head's.
    """

    def call(self, inputs, mask_positions):
        positions = ops.expand_dims(ops.cast(mask_positions, "int32"), axis=-1)
        x = ops.take_along_axis(inputs, positions, axis=1)
        x = self._intermediate_dense(x)
        x = self._intermediate_layer_norm(x)
        if self.token_embedding is not None:
            outputs = self.token_embedding(x, reverse=True)
        else:
            outputs = ops.matmul(x, self._kernel)
        outputs = ops.cast(outputs, self.compute_dtype)
        outputs = outputs + ops.cast(self._bias, self.compute_dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


