"""WordPiece vocabularies: load a BERT-style `vocab.txt`, or learn one from text.

A `Vocabulary` is the one place where special-token ids and per-id flags (word
continuation, special) are derived from the token strings. Ids are always
looked up, never assumed: a BERT-cased `vocab.txt` puts `[CLS]` at 101, a
vocabulary learned here puts it at 2.
"""

import os

import numpy as np

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
        """bool [V]: True for bracketed reserved tokens ([PAD], [unused0], ...).

        These are never masked and never drawn as random replacements.
        """
        return np.array(
            [t.startswith("[") and t.endswith("]") and len(t) > 2 for t in self.tokens]
        )

    def save(self, path):
        """Writes `vocab.txt`: one wordpiece a line, line number = id."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.tokens) + "\n")
        return path

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
        files: list of paths of UTF-8 text files.
        vocab_size: int, the number of wordpieces to learn, special tokens
            included. The result can be smaller on a small corpus.
        min_frequency: int, the minimum count of a merge.
        show_progress: bool, show the trainer's progress bars.

    Returns:
        A `Vocabulary` whose first ids are `SPECIAL_TOKENS`.
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
    return Vocabulary([token for token, _ in by_id], source=", ".join(files))


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
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

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
