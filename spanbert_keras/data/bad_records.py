"""Counted, named bad records: the one rule the TACRED, GLUE and CoNLL readers share.

A reader never drops a record silently: each skipped record gives one line
`"{path}: {where}: {message}"` (`where` = `line 12` or `record 3`), returned
with the examples; with `strict=True` the first one raises `ValueError`.
"""


class BadRecords:
    """The problems of one file.

    Example:

    >>> from spanbert_keras.data.bad_records import BadRecords
    >>> problems = BadRecords("train.tsv", strict=False)
    >>> problems.add("line 3", "2 columns, expected 3")
    >>> problems.lines
    ['train.tsv: line 3: 2 columns, expected 3']
    """

    def __init__(self, path, strict):
        self.path = str(path)
        self.strict = bool(strict)
        self.lines = []

    def add(self, where, message):
        line = f"{self.path}: {where}: {message}"
        if self.strict:
            raise ValueError(line)
        self.lines.append(line)


def summarize(problems, what, limit=5):
    """One message for a list of problem lines: the count and the first `limit` of them.

    >>> from spanbert_keras.data.bad_records import summarize
    >>> print(summarize(["a.json: record 1: x", "a.json: record 4: x"], "label(s) unknown"))
    2 label(s) unknown:
      a.json: record 1: x
      a.json: record 4: x
    """
    shown = "\n".join(f"  {line}" for line in problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} {what}:\n{shown}{more}"
