"""keras-hub's own BERT classes open a preset of our encoder (`convert --to keras-hub`)."""

import keras_hub
import numpy as np
import pytest

import spanbert_keras  # noqa: F401 (registers keras-hub's BERT classes for our encoder)
from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.checkpoints import save_pretrained
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    model = load_pretrained("austen-tiny", log=None)
    folder = str(tmp_path_factory.mktemp("presets") / "austen-keras-hub")
    save_pretrained(model, folder, model.import_report.vocabulary, format="keras-hub")
    return folder, model


def test_keras_hub_tokenizer_and_tasks_load_the_preset(preset):
    folder, model = preset
    texts = ["Emma Woodhouse, handsome, clever, and rich", "Mr. Knightley smiled."]
    tokenizer = keras_hub.models.BertTokenizer.from_preset(folder)
    ours = SpanBertTokenizer(model.import_report.vocabulary)
    assert list(tokenizer(texts)) == ours.tokenize(texts).to_list()

    classifier = keras_hub.models.BertTextClassifier.from_preset(folder, num_classes=2)
    assert isinstance(classifier, keras_hub.models.BertTextClassifier)
    assert isinstance(classifier.backbone, SpanBertBackbone)
    assert classifier.predict(texts, verbose=0).shape == (2, 2)

    masked_lm = keras_hub.models.BertMaskedLM.from_preset(folder)
    x = classifier.preprocessor(texts)  # keras-hub's packing of the same texts
    x = x[0] if isinstance(x, tuple) else x
    np.testing.assert_allclose(
        masked_lm.backbone(x)["sequence_output"], model.backbone(x)["sequence_output"],
        rtol=1e-5, atol=1e-5)
