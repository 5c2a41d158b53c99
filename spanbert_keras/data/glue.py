"""GLUE-style sentence and sentence-pair classification: the TSV reader and the features.

`read_glue(path, text_a=..., text_b=..., label=...)` returns `(examples,
problems)` (`read_tsv`: the lines; `select_columns`: the examples). The file
is tab-separated UTF-8 (a BOM is allowed; other bytes are refused naming the
line), GLUE's convention: no quoting (a quote is text), lines end with
`\\n`, `\\r\\n` or `\\r`, blank lines are skipped, a field may be of any size.
Columns are chosen by header name or by 0-based index. An example is a dict:

- `id`: str (the `id_column`'s value, else the line number);
- `text_a`: str; `text_b`: str or None (single sentences);
- `label`: str (a float for regression), or None without a label column;
- `where`: str, `"path: line N"`, for messages.

`problems` names each skipped line (a different number of columns than the
first line; an empty text; a label that is not a number for regression; an
id seen before); with `strict=True` the first one raises.

Features: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with segment ids 0 / 1,
the pair cut as BERT cuts it (`data.features.pack_segments`).
"""

import os

import tensorflow as tf

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.data.features import pack_segments
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.files import check_text


def read_glue(path, text_a, text_b=None, label=None, header=True, id_column=None,
              regression=False, strict=False):
    """Reads a GLUE-style TSV file (`read_tsv`, then `select_columns`).

    Args:
        path: the file.
        text_a: the first text's column: a header name (str) or an index
            (int, 0-based; negative counts from the end).
        text_b: the second text's column for pairs, or None.
        label: the label's column, or None (unlabelled, e.g. test files).
        header: bool, the first line names the columns (GLUE's files have
            one, except CoLA's).
        id_column: optional column of example ids (default: the line number).
        regression: bool, labels are numbers (STS-B).
        strict: bool, raise on the first bad line.

    Returns:
        `(examples, problems)`, see the module docstring.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "dev.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("sentence\\tlabel\\nA fine day .\\t1\\nDull\\n")
    >>> examples, problems = read_glue(path, text_a="sentence", label="label")
    >>> [(e["text_a"], e["label"]) for e in examples]
    [('A fine day .', '1')]
    >>> problems[0].split(": ", 1)[1]
    'line 3: 1 column(s), expected 2'
    """
    rows, problems = read_tsv(path, strict, header=header)
    examples, more = select_columns(rows, path, text_a, text_b, label, header, id_column,
                                    regression, strict)
    return examples, problems + more


def read_tsv(path, strict=False, header=None):
    """The lines of a tab-separated file, each as wide as the first one; the header apart.

    GLUE's convention (see the module docstring). The file's first line is
    its header when `header` is True; when `header` is None it is guessed
    as GLUE's files have it: every file has one except CoLA's training and
    dev files, whose lines have 4 columns, the second `0` or `1`
    (`looks_like_cola`). The header is not a row (so `len(rows)` counts the
    examples); each row carries it, and `select_columns` puts a line taken
    for a header back among the rows when the columns are read without one.

    Returns:
        `(rows, problems)`: rows are dicts `fields` (list of str), `path`,
        `where` (`"path: line N"`) and `header` (the header line as such a
        dict, or None); problems name the lines of another width.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8 (naming the line).

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("sentence\\tlabel\\nA fine day .\\t1\\nDull .\\t0\\n")
    >>> rows, problems = read_tsv(path)
    >>> len(rows), rows[0]["header"]["fields"], rows[1]["where"].split(": ")[1]
    (2, ['sentence', 'label'], 'line 3')
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GLUE file not found: {path}")
    problems = BadRecords(path, strict)
    try:
        # Universal newlines: "\n", "\r\n" and "\r" end a line, as csv's reader
        # (without its field size limit).
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError:
        check_text(path)  # raises ValueError naming the line
        raise
    rows, width, head = [], None, None
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        fields = line.split("\t")
        if width is None:
            width = len(fields)
            row = {"fields": fields, "path": path, "where": f"{path}: line {number}",
                   "header": None}
            if header or (header is None and not looks_like_cola(fields)):
                head = row
                continue
        if len(fields) != width:
            problems.add(f"line {number}", f"{len(fields)} column(s), expected {width}")
            continue
        rows.append({"fields": fields, "path": path, "where": f"{path}: line {number}",
                     "header": head})
    return rows, problems.lines


def looks_like_cola(fields):
    """Whether a line is one of CoLA's (4 columns: source, `0` or `1`, mark, sentence).

    >>> looks_like_cola(["gj04", "1", "", "Our friends won't buy this analysis."])
    True
    >>> looks_like_cola(["index", "sentence1", "sentence2", "label"])
    False
    """
    return len(fields) == 4 and fields[1] in ("0", "1")


def first_line(rows):
    """The fields of the file's first line (its header, when it has one), or [] without rows."""
    if not rows:
        return []
    head = rows[0].get("header")
    return list((head or rows[0])["fields"])


def select_columns(rows, path, text_a, text_b=None, label=None, header=True, id_column=None,
                   regression=False, strict=False):
    """Examples from the rows of `read_tsv`, by column name or index (see `read_glue`).

    Returns:
        `(examples, problems)`: problems name the rows with an empty text,
        (regression) a label that is not a number, or an id seen before.
    """
    problems = BadRecords(path, strict)
    head = rows[0].get("header") if rows else None
    if header and head is None and rows:
        head, rows = rows[0], rows[1:]  # `read_tsv` took the first line for a row
    elif not header and head is not None:
        rows = [head] + list(rows)  # ... or for a header
    if not rows:
        return [], problems.lines
    names = head["fields"] if header else None
    width = len(rows[0]["fields"])
    columns = {
        key: _column_index(path, key, column, names, width)
        for key, column in (("text_a", text_a), ("text_b", text_b), ("label", label),
                            ("id", id_column))
        if column is not None
    }
    examples, ids = [], set()
    for row in rows:
        where = row["where"][len(path) + 2:]
        values = {key: row["fields"][index] for key, index in columns.items()}
        if not values["text_a"].strip() or ("text_b" in values and not values["text_b"].strip()):
            problems.add(where, "empty text")
            continue
        value = values.get("label")
        if value is not None and regression:
            try:
                value = float(value)
            except ValueError:
                problems.add(where, f"label {value!r} is not a number")
                continue
        example_id = values.get("id", where.split()[-1])
        if example_id in ids:
            problems.add(where, f"duplicate id {example_id!r}")
            continue
        ids.add(example_id)
        examples.append(
            {
                "id": example_id,
                "text_a": values["text_a"],
                "text_b": values.get("text_b"),
                "label": value,
                "where": row["where"],
            }
        )
    return examples, problems.lines


def _column_index(path, key, column, names, width):
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise TypeError(f"Column {key!r} must be a header name or an index. Received: {column!r}")
    if isinstance(column, str) and not column.lstrip("-").isdigit():
        if names is None:
            raise ValueError(
                f"{path}: column {key}={column!r} is a name but the file is read without a "
                "header (header=False); give its index instead."
            )
        if column not in names:
            raise ValueError(f"{path}: no column named {column!r} in the header {names}.")
        return names.index(column)
    index = int(column)
    if not -width <= index < width:
        raise ValueError(
            f"{path}: column {key}={column!r} is out of range for lines of {width} columns."
        )
    return index % width


class TextFeatures(tf.Module):
    """Texts (or pairs of texts) -> the encoder's inputs, in TensorFlow ops.

    Args:
        vocabulary: a `Vocabulary`.
        sequence_length: int, the packed length.

    Call arguments:
        text_a: string `[B]`; text_b: optional string `[B]`.

    Returns:
        `token_ids`, `segment_ids`, `padding_mask` int32 `[B, L]` and
        `truncated` bool `[B]`.

    Example:

    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Is", "it", "?", "Yes"])
    >>> out = TextFeatures(vocab, 8)(["Is it?"], ["Yes"])
    >>> out["token_ids"].numpy().tolist(), out["segment_ids"].numpy().tolist()
    ([[2, 5, 6, 7, 3, 8, 3, 0]], [[0, 0, 0, 0, 0, 1, 1, 0]])
    """

    def __init__(self, vocabulary, sequence_length=128, name="text_features"):
        super().__init__(name=name)
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self.tokenizer = SpanBertTokenizer(vocabulary)

    def __call__(self, text_a, text_b=None):
        second = None if text_b is None else self.tokenizer.tokenize(text_b)
        return pack_segments(
            self.tokenizer.tokenize(text_a), self.sequence_length, self.vocabulary, second
        )
