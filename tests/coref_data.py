"""Coreference test data the tests write themselves (nothing is downloaded).

A learnable CoNLL-2012 corpus: real sentences of the shipped demo text
(`spanbert_keras/resources/austen.txt`) with people planted among them, so
every cluster follows from the text.

- Filler sentences are real Austen sentences of 6-30 words, split into words
  by `tokenize` (punctuation split off; "Mr." kept whole). A filler holds no
  third-person personal pronoun, no capitalised word but its first word (and
  "I"), no name of `PEOPLE` and no word of a description, so it holds no
  mention of a planted person. The fillers are split once between train and
  dev by a hash of their words, so dev's fillers never appear in train.
- Each document plants 2 or 3 people of `PEOPLE` (multi-word names such as
  "Captain Wentworth") in short templates ("<S> read the letter again ."),
  mentioned by name (always the first time), by the description that
  belongs to that person only ("the captain"), or by a pronoun. A pronoun of
  a gender (he / him / his, she / her) is used only when the document holds
  exactly one person of that gender, after that person was named, so its
  antecedent is the most recent (and only) person of that gender. Some
  documents also name two of the people together ("Mr. Knightley and Miss
  Bates walked to the village together .") and later call the pair they /
  them / their: the pair is a cluster of its own whose first mention nests
  the two people's mentions. Every planted entity is mentioned at least
  twice, so no cluster is a singleton.
- `coref_documents(n, split, seed)`: the documents as dicts; `write_conll`
  writes them in the OntoNotes layout; `write_coref_corpus(folder)` writes
  `train.english.v4_gold_conll` and `dev.english.v4_gold_conll`;
  `corpus_statistics` counts documents, words and mentions.
"""

import functools
import importlib.util
import os
import random
import re
import zlib

GENRES = ("bc", "bn", "mz", "nw", "pt", "tc", "wb")
# Speakers of the conversational genres (the other genres write "-").
SPEAKERS = {"tc": ("A", "B"), "bc": ("Speaker#1", "Speaker#2")}

# (name, description, gender): each description belongs to one person only.
PEOPLE = (
    ("Mr. Knightley", "the squire", "male"),
    ("Captain Wentworth", "the captain", "male"),
    ("Colonel Brandon", "the colonel", "male"),
    ("Mr. Collins", "the clergyman", "male"),
    ("Admiral Croft", "the admiral", "male"),
    ("Sir Walter", "the baronet", "male"),
    ("Dr. Grant", "the doctor", "male"),
    ("William Price", "the young sailor", "male"),
    ("Mr. Woodhouse", "the invalid", "male"),
    ("Miss Bates", "the spinster", "female"),
    ("Mrs. Jennings", "the old lady", "female"),
    ("Lady Russell", "the godmother", "female"),
    ("Mrs. Norris", "the aunt", "female"),
    ("Mrs. Clay", "the widow", "female"),
    ("Mrs. Goddard", "the schoolmistress", "female"),
    ("Jane Fairfax", "the governess", "female"),
    ("Harriet Smith", "the pupil", "female"),
    ("Lucy Steele", "the niece", "female"),
)
# Pronoun by entity kind and slot: subject, object, possessive.
PRONOUNS = {
    "male": {"S": "he", "O": "him", "P": "his"},
    "female": {"S": "she", "O": "her", "P": "her"},
    "group": {"S": "they", "O": "them", "P": "their"},
}
# No filler sentence holds one of these.
THIRD_PERSON = frozenset(
    "he him his himself she her hers herself they them their theirs themselves".split())
# Nor any of these (lower-cased): the words of names and descriptions, forms of address.
EXCLUDED_WORDS = frozenset(
    {w.lower().rstrip(".") for name, _, _ in PEOPLE for w in name.split()}
    | {description.split()[-1] for _, description, _ in PEOPLE}
    | {"sir", "madam", "ma'am", "lady", "gentleman", "miss"}
)

# Planted sentences. {S} subject, {O} object, {P} possessive (a pronoun only).
TEMPLATES = (
    "{S} read the letter again .",
    "{S} thought of {O} all the morning .",
    "{S} walked into the room with {O} .",
    "{S} could not look at {O} without a smile .",
    "{S} had been very kind to {O} .",
    "{S} said nothing more about {P} plans .",
    "{P} letter was brought in by the servant .",
    "{S} was in high spirits all the evening .",
    "Nobody could doubt that {S} had been sincere .",
    "{S} had never seen {O} so agitated .",
    "{S} sat down by {O} and said very little .",
    "The news surprised {O} exceedingly .",
    "{S} gave {O} a look of great meaning .",
    "{S} smiled , and turned away .",
    "{S} went out early the next morning .",
    "{S} could not forgive {O} .",
    "Everybody was pleased with {O} .",
    "{S} owed {O} a great deal .",
    "{S} spoke warmly of {P} kindness .",
    "There was no answer from {O} .",
    "{S} wrote to {O} the same day .",
    "{P} opinion was of great weight in the family .",
    "{S} called at the cottage , but {S} was not at home .",
    "{S} hoped to see {O} at the ball .",
    "A note from {O} arrived before dinner .",
    "{S} listened to {O} with great attention .",
    "{S} remembered every word of {P} letter .",
    "{S} was very much obliged to {O} .",
)
# Two people named together: the pair's first mention ({A} and {B}).
PAIR_TEMPLATES = (
    "{A} and {B} walked to the village together .",
    "{A} and {B} were seen together at church .",
    "{A} and {B} dined at the great house .",
)
# A sentence that mentions one given entity (to make sure each is mentioned twice).
EXTRA_TEMPLATES = (
    "{S} read the letter again .",
    "{S} went out early the next morning .",
    "Everybody was pleased with {O} .",
)

_TOKEN = re.compile(r"(?:Mrs|Mr|Dr|St)\.|[A-Za-z0-9]+(?:'[A-Za-z]+)*|-+|\S")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_PLAIN = re.compile(r"[A-Za-z0-9 ,.;:!?'-]+")
_FIRST_PERSON_I = re.compile(r"I(?:'[a-z]+)?")
# A quick test before tokenising: whether a lower-cased sentence holds an excluded word.
_EXCLUDED = re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, sorted(THIRD_PERSON | EXCLUDED_WORDS))))


def tokenize(text):
    """Words of `text`: runs of letters and digits (with inner apostrophes) and
    dash runs are words, any other character is a word of its own; "Mr.",
    "Mrs.", "Dr." and "St." keep their full stop."""
    return _TOKEN.findall(text)


def austen_path():
    """Path of the shipped demo text, found without importing the package."""
    spec = importlib.util.find_spec("spanbert_keras")
    return os.path.join(list(spec.submodule_search_locations)[0], "resources", "austen.txt")


def _is_filler(words, lowercase_words):
    if not 6 <= len(words) <= 30 or words[-1] not in (".", "!", "?"):
        return False
    lowered = {w.lower() for w in words}
    if lowered & THIRD_PERSON or lowered & EXCLUDED_WORDS:
        return False
    first = words[0]
    if first[0].isupper() and not _FIRST_PERSON_I.fullmatch(first) \
            and first.lower() not in lowercase_words:
        return False  # a capitalised first word that is never a common word: a name
    return not any(w != w.lower() and not _FIRST_PERSON_I.fullmatch(w) for w in words[1:])


@functools.lru_cache(maxsize=None)
def filler_sentences():
    """{"train": [...], "dev": [...]}: the filler sentences (tuples of words), disjoint."""
    with open(austen_path(), encoding="utf-8") as f:
        text = f.read()
    lowercase_words = frozenset(re.findall(r"\b[a-z]+(?:'[a-z]+)*\b", text))
    seen = set()
    pools = {"train": [], "dev": []}
    for paragraph in text.split("\n"):
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            if not _PLAIN.fullmatch(sentence) or _EXCLUDED.search(sentence.lower()):
                continue
            words = tuple(tokenize(sentence))
            key = " ".join(words)
            if key in seen or not _is_filler(words, lowercase_words):
                continue
            seen.add(key)
            split = "dev" if zlib.crc32(key.encode("utf-8")) % 4 == 0 else "train"
            pools[split].append(words)
    return pools


class _Planter:
    """Builds one document's planted sentences and records their mentions."""

    def __init__(self, rng, people, pair):
        self.rng = rng
        genders = [p[2] for p in people]
        self.entities = [
            {"kind": "person", "name": p[0].split(), "description": p[1].split(),
             "gender": p[2], "pronoun": genders.count(p[2]) == 1}
            for p in people
        ]
        if pair is not None:
            self.entities.append({"kind": "group", "members": pair, "pronoun": True})
        self.counts = [0] * len(self.entities)
        self.introduced = [False] * len(self.entities)

    def _form(self, index, slot, introduced):
        """Words of a mention of entity `index` at `slot`, or None when none fits."""
        entity = self.entities[index]
        if entity["kind"] == "group":
            return [PRONOUNS["group"][slot]] if introduced[index] else None
        if not introduced[index]:
            return None if slot == "P" else list(entity["name"])
        pronoun = [PRONOUNS[entity["gender"]][slot]] if entity["pronoun"] else None
        if slot == "P":
            return pronoun
        forms = [list(entity["name"]), list(entity["description"])]
        if pronoun:
            forms += [pronoun, pronoun]
        return self.rng.choice(forms)

    def _related(self, a, b):
        """Whether a and b are the same entity, or a pair and one of its members."""
        if a == b:
            return True
        for x, y in ((a, b), (b, a)):
            if self.entities[x]["kind"] == "group" and y in self.entities[x]["members"]:
                return True
        return False

    def _candidates(self, slot, next_word, used, introduced):
        found = []
        for index, entity in enumerate(self.entities):
            if entity["kind"] == "group" and slot == "S" and next_word == "was":
                continue  # "they was"
            if slot != "P" and any(self._related(index, u) for u in used):
                continue
            if entity["kind"] == "group" or slot == "P":
                if not introduced[index] or not entity["pronoun"]:
                    continue
            found.append(index)
        return found

    def sentence(self, template, forced=None):
        """(words, mentions) of `template` filled in, or None when a slot has no candidate.
        Mentions are (entity, start, end) with end inclusive; `forced` fills the only slot."""
        introduced = list(self.introduced)
        tokens = template.split()
        words, mentions, used = [], [], []
        for position, token in enumerate(tokens):
            if not (token.startswith("{") and token.endswith("}")):
                words.append(token)
                continue
            slot = token[1]
            next_word = tokens[position + 1] if position + 1 < len(tokens) else None
            if forced is not None:
                choice = forced
            else:
                candidates = self._candidates(slot, next_word, used, introduced)
                if not candidates:
                    return None
                needy = [c for c in candidates if self.counts[c] + used.count(c) < 2]
                pool = needy if needy and self.rng.random() < 0.6 else candidates
                choice = self.rng.choice(pool)
            form = self._form(choice, slot, introduced)
            if form is None:
                return None
            mentions.append((choice, len(words), len(words) + len(form) - 1))
            words.extend(form)
            used.append(choice)
            introduced[choice] = True
        self._commit(mentions, introduced)
        return _capitalised(words), mentions

    def pair_sentence(self, template):
        """The pair's first mention: its two members named (or described) together."""
        group = len(self.entities) - 1
        words, mentions = [], []
        members = list(self.entities[group]["members"])
        self.rng.shuffle(members)
        slots = dict(zip(("{A}", "{B}"), members))
        for token in template.split():
            if token not in slots:
                words.append(token)
                continue
            person = self.entities[slots[token]]
            if self.introduced[slots[token]] and self.rng.random() < 0.5:
                form = list(person["description"])
            else:
                form = list(person["name"])
            mentions.append((slots[token], len(words), len(words) + len(form) - 1))
            words.extend(form)
        mentions.append((group, mentions[0][1], mentions[-1][2]))
        introduced = list(self.introduced)
        for index, _, _ in mentions:
            introduced[index] = True
        self._commit(mentions, introduced)
        return _capitalised(words), mentions

    def _commit(self, mentions, introduced):
        for index, _, _ in mentions:
            self.counts[index] += 1
        self.introduced = introduced


def _capitalised(words):
    words = list(words)
    words[0] = words[0][0].upper() + words[0][1:]
    return words


def _people(rng):
    males = [p for p in PEOPLE if p[2] == "male"]
    females = [p for p in PEOPLE if p[2] == "female"]
    if rng.random() < 0.55:
        if rng.random() < 0.75:
            people = [rng.choice(males), rng.choice(females)]
        else:
            people = rng.sample(rng.choice((males, females)), 2)
    else:
        many, one = (males, females) if rng.random() < 0.5 else (females, males)
        people = rng.sample(many, 2) + [rng.choice(one)]
    rng.shuffle(people)
    return people


def _document(rng, fillers, people, pair, sentences_per_document, pair_at):
    """(sentences, planted flags, mentions with document offsets) of one document part."""
    planter = _Planter(rng, people, pair)
    low, high = sentences_per_document
    length = rng.randint(low, high)
    needed = len(people) + (2 if pair is not None else 0)
    planted_count = max(needed, round(length * rng.uniform(0.35, 0.6)))
    length = max(length, planted_count)
    planted_at = sorted(rng.sample(range(length), planted_count))
    pair_index = min(pair_at, planted_count - 2) if pair is not None else None
    planted = []
    for k in range(planted_count):
        if k == pair_index:
            planted.append(planter.pair_sentence(rng.choice(PAIR_TEMPLATES)))
            continue
        made = None
        while made is None:
            made = planter.sentence(rng.choice(TEMPLATES))
        planted.append(made)
    # Every entity is mentioned at least twice: extra sentences at the end.
    for index in range(len(planter.entities)):
        while planter.counts[index] < 2:
            made = None
            while made is None:
                made = planter.sentence(rng.choice(EXTRA_TEMPLATES), forced=index)
            planted.append(made)
            planted_at.append(length)
            length += 1
    filler_words = iter(rng.sample(fillers, length - len(planted)))
    planted_by_position = dict(zip(planted_at, planted))
    sentences, flags, mentions = [], [], []
    offset = 0
    for position in range(length):
        if position in planted_by_position:
            words, local = planted_by_position[position]
            mentions += [(e, offset + s, offset + t) for e, s, t in local]
            flags.append(True)
        else:
            words = list(next(filler_words))
            flags.append(False)
        sentences.append(words)
        offset += len(words)
    return sentences, flags, mentions


def _speakers(rng, genre, sentences):
    names = SPEAKERS.get(genre)
    if names is None or rng.random() < 0.2:
        return [["-"] * len(words) for words in sentences]
    speakers, turn, left = [], rng.randrange(2), rng.randint(1, 4)
    for words in sentences:
        if left == 0:
            turn, left = 1 - turn, rng.randint(1, 4)
        speakers.append([names[turn]] * len(words))
        left -= 1
    return speakers


def coref_documents(num_documents, split="train", seed=0, sentences_per_document=(6, 20),
                    pair_rate=0.3):
    """`num_documents` document dicts of `split` ("train" or "dev"), the same for a seed.

    Each dict holds `id` ("<name>_<part>"), `name` (e.g. "nw/austen/00/doc_0001"),
    `part`, `genre`, `sentences` (lists of words), `speakers` (the same shape),
    `clusters` (lists of [start, end] word indices over the whole document,
    end inclusive, in order of first mention), `cluster_ids` (the numbers the
    CoNLL column uses, one per cluster) and `planted` (per sentence: planted
    or a filler). Every tenth name (from the second on) has two parts, each
    a document of its own; `pair_rate` is the share of documents that name
    two people together and later call them they / them / their. A document
    has `sentences_per_document` (min, max) sentences, a few more when its
    people need more planted sentences than that (to be mentioned twice each).
    """
    if split not in ("train", "dev"):
        raise ValueError(f"split is 'train' or 'dev', not {split!r}")
    fillers = filler_sentences()[split]
    rng = random.Random(f"coref/{split}/{seed}")
    folder = "00" if split == "train" else "01"
    documents = []
    number = 0
    while len(documents) < num_documents:
        number += 1
        genre = rng.choice(GENRES)
        name = f"{genre}/austen/{folder}/doc_{number:04d}"
        parts = 2 if number % 10 == 2 and num_documents - len(documents) >= 2 else 1
        people = _people(rng)
        for part in range(parts):
            pair = tuple(rng.sample(range(len(people)), 2)) if rng.random() < pair_rate else None
            sentences, flags, mentions = _document(rng, fillers, people, pair,
                                                   sentences_per_document, rng.randrange(3))
            by_entity = {}
            for entity, start, end in mentions:
                by_entity.setdefault(entity, []).append([start, end])
            clusters = sorted((sorted(spans) for spans in by_entity.values()),
                              key=lambda spans: spans[0])
            documents.append({
                "id": f"{name}_{part}",
                "name": name,
                "part": part,
                "genre": genre,
                "sentences": sentences,
                "speakers": _speakers(rng, genre, sentences),
                "clusters": clusters,
                "cluster_ids": rng.sample(range(1, 150), len(clusters)),
                "planted": flags,
            })
    return documents


def _coreference_column(length, spans):
    """The last column of a sentence's words: spans are (id, start, end) in the sentence."""
    opens = [[] for _ in range(length)]
    singles = [[] for _ in range(length)]
    closes = [[] for _ in range(length)]
    for cluster_id, start, end in sorted(spans, key=lambda s: (s[1], -s[2])):
        if start == end:
            singles[start].append(f"({cluster_id})")
        else:
            opens[start].append(f"({cluster_id}")
            closes[end].insert(0, f"{cluster_id})")
    return ["|".join(o + s + c) or "-" for o, s, c in zip(opens, singles, closes)]


def write_conll(documents, path):
    """Write document dicts (as `coref_documents` makes them) to a CoNLL-2012 file."""
    lines = []
    for document in documents:
        name, part = document["name"], document["part"]
        ids = document.get("cluster_ids") or range(len(document["clusters"]))
        lines.append(f"#begin document ({name}); part {part:03d}")
        first = 0
        for words, speakers in zip(document["sentences"], document["speakers"]):
            last = first + len(words) - 1
            spans = [(cluster_id, start - first, end - first)
                     for cluster_id, cluster in zip(ids, document["clusters"])
                     for start, end in cluster if first <= start and end <= last]
            column = _coreference_column(len(words), spans)
            for i, (word, speaker, coref) in enumerate(zip(words, speakers, column)):
                lines.append(f"{name}  {part}  {i:>3}  {word:<14}  -  -  -  -  -  "
                             f"{speaker}  *  {coref}")
            lines.append("")
            first = last + 1
        lines.append("#end document")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_coref_corpus(folder, num_train=200, num_dev=50, seed=0, sentences_per_document=(6, 20),
                       pair_rate=0.3):
    """Write `train.english.v4_gold_conll` and `dev.english.v4_gold_conll` into `folder`
    (`coref_documents` of each split) and return their two paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for split, count in (("train", num_train), ("dev", num_dev)):
        documents = coref_documents(count, split, seed, sentences_per_document, pair_rate)
        paths.append(write_conll(documents, os.path.join(folder, f"{split}.english.v4_gold_conll")))
    return tuple(paths)


def corpus_statistics(documents):
    """Counts over document dicts: documents, words, mentions, clusters, pronoun share."""
    pronouns = {w for forms in PRONOUNS.values() for w in forms.values()}
    words = sum(len(s) for d in documents for s in d["sentences"])
    mentions = pronoun_mentions = 0
    for document in documents:
        flat = [w for s in document["sentences"] for w in s]
        for cluster in document["clusters"]:
            for start, end in cluster:
                mentions += 1
                pronoun_mentions += start == end and flat[start].lower() in pronouns
    clusters = sum(len(d["clusters"]) for d in documents)
    return {
        "documents": len(documents),
        "multi_part_names": len({d["name"] for d in documents if d["part"] > 0}),
        "sentences": sum(len(d["sentences"]) for d in documents),
        "words": words,
        "mentions": mentions,
        "clusters": clusters,
        "clusters_per_document": clusters / max(len(documents), 1),
        "mentions_per_document": mentions / max(len(documents), 1),
        "pronoun_fraction": pronoun_mentions / max(mentions, 1),
    }


def resolve_words_inputs(documents):
    """The `resolve_words` inputs of a coreference export for `documents` (NumPy arrays)."""
    import numpy as np

    width = max(sum(len(s) for s in d["sentences"]) for d in documents)

    def padded(rows, fill):
        return np.array([row + [fill] * (width - len(row)) for row in rows], dtype=object)

    return {
        "resolve_words/words": padded([[w for s in d["sentences"] for w in s]
                                       for d in documents], ""),
        "resolve_words/sentence_ids": padded(
            [[i for i, s in enumerate(d["sentences"]) for _ in s] for d in documents], 0
        ).astype(np.int32),
        "resolve_words/speakers": padded([[p for s in d["speakers"] for p in s]
                                          for d in documents], ""),
        "resolve_words/genre": np.array([d["genre"] for d in documents], object),
    }


def exported_clusters(outputs, row, signature="resolve_words"):
    """The clusters (lists of `[first word, last word]`) of one row of an export's outputs."""
    count = int(outputs[f"{signature}/num_mentions"][row])
    found = {}
    for start, end, cluster in zip(outputs[f"{signature}/mention_starts"][row][:count],
                                   outputs[f"{signature}/mention_ends"][row][:count],
                                   outputs[f"{signature}/cluster_ids"][row][:count]):
        found.setdefault(int(cluster), []).append([int(start), int(end)])
    return list(found.values())
