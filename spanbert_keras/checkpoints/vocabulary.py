"""A checkpoint's vocabulary and casing.

The vocabulary is the checkpoint's `vocab.txt` (or one given); its size must
equal the rows of the embedding matrix. Casing comes from a tokenizer config
when there is one (`do_lower_case` of Hugging Face, `lowercase` of keras-hub)
and is otherwise inferred from the vocabulary: a cased vocabulary has
uppercase pieces. It is never defaulted to lowercase (the hub copies of
SpanBERT ship no tokenizer config, and lowercasing breaks them).
"""

import os

from spanbert_keras.checkpoints.paths import read_json
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import load_vocabulary

VOCAB_FILE = "vocab.txt"


def infer_lowercase(vocabulary):
    """True when no piece outside the bracketed specials has an uppercase letter.

    Example:

    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    >>> infer_lowercase(Vocabulary(specials + ["the", "##s"]))
    True
    >>> infer_lowercase(Vocabulary(specials + ["The", "the"]))
    False
    """
    special = vocabulary.is_special
    return not any(t != t.lower() for t, s in zip(vocabulary.tokens, special) if not s)


def read_lowercase(path, key, source):
    """The bool `key` of a JSON tokenizer config, or None when the file or key is absent."""
    if not os.path.isfile(path):
        return None
    values = read_json(path, "tokenizer config")
    if isinstance(values.get("config"), dict):
        values = values["config"]  # keras-hub: {"class_name": ..., "config": {...}}
    value = values.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValueError(f"{source}: {key} must be true or false in {path}. Received: {value!r}")
    return value


def checkpoint_vocabulary(vocabulary, directory, rows, source):
    """The vocabulary of a checkpoint: `vocabulary` if given, else `directory/vocab.txt`.

    Args:
        vocabulary: None, a `Vocabulary`, a list of pieces or a `vocab.txt` path.
        directory: the checkpoint's directory.
        rows: int, rows of the checkpoint's word-embedding matrix.
        source: the checkpoint, for errors.

    Raises:
        FileNotFoundError: no vocabulary given and none beside the checkpoint.
        ValueError: its size differs from `rows`.
    """
    if vocabulary is None:
        path = os.path.join(directory, VOCAB_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"No {VOCAB_FILE} beside {source}: put the checkpoint's vocabulary there or "
                "pass it (--vocab); the released SpanBERT models use BERT-cased's vocab.txt "
                "(28,996 pieces)."
            )
        vocabulary = Vocabulary.load(path)
    else:
        vocabulary = load_vocabulary(vocabulary)
    if vocabulary.size != rows:
        raise ValueError(
            f"The vocabulary ({vocabulary.source or 'given'}) has {vocabulary.size:,} pieces, but "
            f"the word-embedding matrix of {source} has {rows:,} rows: they must be the same."
        )
    return vocabulary
