"""WordPiece vocabularies: load a BERT-style `vocab.txt`, or learn one from text.

A `Vocabulary` is the one place where special-token ids and per-id flags (word
continuation, special, maskable) are derived from the token strings. Ids are always
looked up, never assumed: a BERT-cased `vocab.txt` puts `[CLS]` at 101, a
vocabulary learned here puts it at 2.
"""

import hashlib
import itertools
import os

import numpy as np

from spanbert_keras.files import atomic_write
from spanbert_keras.files import check_text

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CONTINUATION_PREFIX = "##"


class Vocabulary:
    """An ordered list of wordpieces with BERT's special tokens.

    Args:
        tokens: list of str, the wordpiece of each id (id = position). Must
            contain every token of `SPECIAL_TOKENS` exactly once and no
            duplicates.
        source: optional str, where the tokens came from (used in errors).

    Example:

    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                     "the", "cat", "##s"])
    >>> vocab.mask_id, vocab.size
    (4, 8)
    >>> vocab.is_continuation.tolist()[-3:]
    [False, False, True]
    """

    def __init__(self, tokens, source=None):
        tokens = [str(t) for t in tokens]
        where = f" in {source}" if source else ""
        if not tokens:
            raise ValueError(f"The vocabulary{where} is empty.")
        missing = [t for t in SPECIAL_TOKENS if t not in tokens]
        if missing:
            raise ValueError(
                f"The vocabulary{where} lacks the special token(s) {missing}; "
                f"a BERT WordPiece vocabulary needs all of {list(SPECIAL_TOKENS)}."
            )
        seen = {}
        for index, token in enumerate(tokens):
            if token in seen:
                raise ValueError(
                    f"The vocabulary{where} lists {token!r} twice "
                    f"(ids {seen[token]} and {index})."
                )
            if token == "" or any(c.isspace() for c in token):
                raise ValueError(
                    f"The vocabulary{where} has an empty or whitespace-bearing "
                    f"token at id {index}: {token!r}."
                )
            seen[token] = index
        self.tokens = tokens
        self.source = source
        self._ids = seen

    @property
    def size(self):
        return len(self.tokens)

    def __len__(self):
        return len(self.tokens)

    def token_to_id(self, token):
        if token not in self._ids:
            raise KeyError(f"{token!r} is not in the vocabulary.")
        return self._ids[token]

    @property
    def pad_id(self):
        return self._ids["[PAD]"]

    @property
    def unk_id(self):
        return self._ids["[UNK]"]

    @property
    def cls_id(self):
        return self._ids["[CLS]"]

    @property
    def sep_id(self):
        return self._ids["[SEP]"]

    @property
    def mask_id(self):
        return self._ids["[MASK]"]

    @property
    def is_continuation(self):
        """bool [V]: True for wordpieces that continue a word (`##` prefix)."""
        return np.array(
            [t.startswith(CONTINUATION_PREFIX) and len(t) > 2 for t in self.tokens]
        )

    @property
    def is_special(self):
        """bool [V]: True for the bracketed reserved pieces ([PAD], [UNK], [unused0], ...)."""
        return np.array(
            [t.startswith("[") and t.endswith("]") and len(t) > 2 for t in self.tokens]
        )

    @property
    def is_maskable(self):
        """bool [V]: True for the ids that text is made of: the pieces and [UNK].

        These are the ids a masker may mask and draw as random replacements.
        [UNK] is one of them, as in the reference masking code (the corpus
        holds it like any word); the other bracketed pieces ([PAD], [CLS],
        [SEP], [MASK] and the [unusedN] slots that fine-tuning uses as
        markers) are not.

        >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        ...                     "[unused0]", "the", "##s"])
        >>> vocab.is_maskable.tolist()
        [False, True, False, False, False, False, True, True]
        """
        maskable = ~self.is_special
        maskable[self.unk_id] = True
        return maskable

    def save(self, path):
        """Writes `vocab.txt` (atomically): one wordpiece a line, line number = id."""
        return atomic_write(path, lambda f: f.write(self.text()))

    def text(self):
        """The content of its `vocab.txt`: one wordpiece a line, line number = id."""
        return "\n".join(self.tokens) + "\n"

    @property
    def fingerprint(self):
        """The SHA-256 of its `vocab.txt` as `save` writes it (`sha256sum vocab.txt`).

        Two vocabularies of the same size but other pieces, or other ids,
        have different fingerprints.

        >>> import os, tempfile
        >>> from spanbert_keras.files import sha256_of
        >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
        >>> vocab.fingerprint == sha256_of(vocab.save(os.path.join(tempfile.mkdtemp(), "v.txt")))
        True
        """
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()

    def check_has_wordpieces(self):
        """Refuses a vocabulary of special pieces only: no text can be tokenised into it.

        >>> Vocabulary(list(SPECIAL_TOKENS), source="vocab.txt").check_has_wordpieces()
        Traceback (most recent call last):
        ...
        ValueError: The vocabulary in vocab.txt holds only special pieces ([PAD], [UNK], [CLS], [SEP], [MASK]): no wordpiece to tokenise text into or to mask.
        """
        if not (~self.is_special).any():
            where = f" in {self.source}" if self.source else ""
            raise ValueError(
                f"The vocabulary{where} holds only special pieces "
                f"({', '.join(self.tokens[:8])}{', ...' if self.size > 8 else ''}): no "
                "wordpiece to tokenise text into or to mask."
            )
        return self

    @classmethod
    def load(cls, path):
        """Reads a BERT / SpanBERT `vocab.txt` (one wordpiece a line)."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Vocabulary file not found: {path}")
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
        while tokens and tokens[-1] == "":
            tokens.pop()
        return cls(tokens, source=path)


def load_vocabulary(vocabulary):
    """Returns a `Vocabulary` from a `Vocabulary`, a list of tokens or a file path."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if isinstance(vocabulary, (str, os.PathLike)):
        return Vocabulary.load(os.fspath(vocabulary))
    if isinstance(vocabulary, (list, tuple)):
        return Vocabulary(vocabulary)
    raise TypeError(
        "`vocabulary` must be a Vocabulary, a list of wordpieces or the path "
        f"of a vocab.txt file. Received: {type(vocabulary).__name__}"
    )


def build_vocabulary(files, vocab_size=8000, min_frequency=2, show_progress=True):
    """Learns a cased WordPiece vocabulary from text files.

    Uses the `tokenizers` package's WordPiece trainer with BERT's cased
    normalisation and pre-tokenisation (the same splitting that
    tensorflow-text's `FastBertTokenizer(lower_case_nfd_strip_accents=False)`
    applies, so both give identical ids with the result).

    Args:
        files: list of paths of UTF-8 text files (each is checked first: a
            file of blank lines, or with bytes that are not UTF-8, is
            refused naming the file and line).
        vocab_size: int, the number of wordpieces to learn, special tokens
            included. The result can be smaller on a small corpus.
        min_frequency: int, the minimum count of a merge.
        show_progress: bool, show the trainer's progress bars.

    Returns:
        A `Vocabulary` whose first ids are `SPECIAL_TOKENS`, with at least
        one wordpiece.
    """
    from tokenizers import trainers

    files = [os.fspath(f) for f in files]
    if not files:
        raise ValueError("No corpus files were given to learn a vocabulary from.")
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Corpus file not found: {path}")
        if os.path.getsize(path) == 0:
            raise ValueError(f"Corpus file is empty: {path}")
        check_text(path)
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(
            f"`vocab_size` must exceed the {len(SPECIAL_TOKENS)} special tokens. "
            f"Received: vocab_size={vocab_size}"
        )
    tokenizer = bert_cased_tokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix=CONTINUATION_PREFIX,
        show_progress=show_progress,
    )
    tokenizer.train(files, trainer)
    by_id = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return Vocabulary([token for token, _ in by_id], source=", ".join(files)).check_has_wordpieces()


def bert_cased_tokenizer(vocabulary=None):
    """The Rust `tokenizers` twin of `SpanBertTokenizer`, outside the graph.

    BERT's cased normalisation and pre-tokenisation with a WordPiece model:
    with a vocabulary it gives the same ids as the in-graph tokenizer (for
    tokenising on the client side of a TFLite model, or in bulk); without one
    it is ready for a `tokenizers` trainer (see `build_vocabulary`).

    Args:
        vocabulary: optional `Vocabulary`, list of wordpieces or `vocab.txt` path.

    Returns:
        A `tokenizers.Tokenizer`; `encode_batch(lines, add_special_tokens=False)`
        gives the wordpiece ids of each line.

    Example:

    >>> tokenizer = bert_cased_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
    ...                                   "[MASK]", "The", "cat", "sat", "##s"])
    >>> tokenizer.encode("The cats sat", add_special_tokens=False).ids
    [5, 6, 8, 7]
    """
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers

    if vocabulary is None:
        model = models.WordPiece(unk_token="[UNK]")
    else:
        tokens = load_vocabulary(vocabulary).tokens
        model = models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]")
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def corpus_token_counts(files, vocabulary, lines_per_batch=10_000):
    """How often each id of `vocabulary` occurs in a corpus.

    The corpus' own token distribution, which the reference masking code
    draws its random replacement tokens from (pass the result to
    `SpanMasker(replacement_counts=...)`). Tokenises with the Rust twin of
    the in-graph tokenizer (`bert_cased_tokenizer`), so the ids are the ones
    the pre-training pipeline sees; lines that are not valid UTF-8 are
    skipped, as the pipeline skips them.

    Args:
        files: a path, a glob or a list of them: UTF-8 text files (one
            sentence or paragraph a line) or TFRecord shards of documents
            (as written by `write_document_shards`).
        vocabulary: a `Vocabulary`, a list of wordpieces or a `vocab.txt` path.
        lines_per_batch: int, lines tokenised per `encode_batch` call.

    Returns:
        int64 NumPy array [V]: the number of occurrences of each id ([UNK]
        included; [CLS], [SEP] and [PAD] are not in the text, so 0).

    Example:

    >>> import os, tempfile
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...          "The", "cat", "sat", "##s"]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "corpus.txt")
    ...     with open(path, "w", encoding="utf-8") as f:
    ...         _ = f.write("The cats sat\\n\\nThe cat sat on the mat\\n")
    ...     counts = corpus_token_counts(path, vocab)
    >>> counts.tolist()
    [0, 3, 0, 0, 0, 2, 2, 2, 1]
    """
    from spanbert_keras.data.packing import TFRECORD_SUFFIXES
    from spanbert_keras.data.packing import check_corpus_files

    if isinstance(lines_per_batch, bool) or not isinstance(lines_per_batch, int) or (
        lines_per_batch < 1
    ):
        raise ValueError(
            f"`lines_per_batch` must be an int >= 1. Received: lines_per_batch={lines_per_batch!r}"
        )
    vocabulary = load_vocabulary(vocabulary)
    tokenizer = bert_cased_tokenizer(vocabulary)
    counts = np.zeros(vocabulary.size, np.int64)
    for path in check_corpus_files(files):
        lines = _tfrecord_lines(path) if path.endswith(TFRECORD_SUFFIXES) else _text_lines(path)
        while True:
            batch = list(itertools.islice(lines, lines_per_batch))
            if not batch:
                break
            encodings = tokenizer.encode_batch(batch, add_special_tokens=False)
            ids = np.fromiter(
                itertools.chain.from_iterable(e.ids for e in encodings), np.int64
            )
            counts += np.bincount(ids, minlength=vocabulary.size)
    return counts


def _decoded(raw_lines):
    """The lines that are valid UTF-8, decoded."""
    for raw in raw_lines:
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            continue


def _text_lines(path):
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        yield from _decoded(f)


def _tfrecord_lines(path):
    import tensorflow as tf

    for document in tf.data.TFRecordDataset(path).as_numpy_iterator():
        yield from _decoded(document.split(b"\n"))
