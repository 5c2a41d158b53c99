"""Realistic NER, sentence-classification and relation data the tests write themselves.

Each example is built around REAL sentences of the shipped demo text
(`spanbert_keras/resources/austen.txt`, the fillers of tests/coref_data.py:
6-30 words, no capitalised word but the first and "I", no third-person
pronoun), with something planted among them from which the label follows.
The fillers are split once between train and dev by a hash of their words,
so a dev example never holds a sentence of the training set. Everything is
deterministic by (split, seed); the files are the tasks' real formats.

- `ner_examples(n, split, seed)` (CoNLL-2003 layout, BIO tags): a real
  sentence with planted clauses around it ("When Captain Wentworth came back
  from Lyme Regis , ...", "..., said Elinor Dashwood .", "Colonel Brandon
  had shares in the East India Company .") naming people (PER; a title such
  as "Mr." is O, as in CoNLL-2003), places (LOC), organisations (ORG) and
  nationalities or feasts (MISC). Every capitalised word inside a sentence
  is a planted entity, and the clause around it tells its kind ("lived in",
  "joined the", "officers").
- `sentiment_rows(n, split, seed)` (SST-2 layout, `sentence\\tlabel`): one or
  two real sentences and a planted clause of clear polarity ("the dinner
  could not have been more charming" -> 1, "the dinner was thought very
  dull" -> 0), alone or joined to a real sentence; the real sentences hold
  no word of the clauses' polarity. A clause is a subject and a predicate;
  dev's (subject, predicate) pairs never occur in training.
- `tacred_records(n, split, seed)` (TACRED's JSON records): a real sentence
  extended with a planted statement between a PERSON and a CITY, an
  ORGANIZATION or another PERSON, the relation told by the words between
  them, worded several ways ("was born in", "a native of", "the birthplace
  of" -> per:city_of_birth; per:cities_of_residence, org:founded_by,
  per:spouse), and `no_relation` statements where the two entities appear
  without a relation ("visited", "danced with", "wrote to the").

- `qa_articles(n, split, seed)` (SQuAD v1.1 / v2.0 JSON): paragraphs of 10-16
  real sentences (about 190 words, 170-270 pieces: longer than one window of
  the small-encoder recipe) with three planted facts among them, each about
  another person: where they were born or live, whom they married, which
  society they founded, of three kinds (or, `same_kind`, often two of one
  kind: "Where was Anne Elliot born ?" when the paragraph also says where
  Edmund Bertram was born). Questions
  are worded several ways ("Where was {S} born ?", "In which town was {S}
  born ?", "Who founded the {O} ?"). In v2.0 a third of the questions ask
  about a person the paragraph never names (no answer).

`write_ner_files`, `write_sentiment_files`, `write_tacred_files` and
`write_qa_files` write a training and a dev file into a folder and return
their paths; `statistics` counts an example list's labels.
"""

import collections
import json
import os
import random
import zlib

from coref_data import PEOPLE
from coref_data import filler_sentences
from coref_data import tokenize
from task_data import write_conll
from task_data import write_tacred
from task_data import write_tsv

# People named with a given name and a surname (both words PER), and PEOPLE's titled names.
FEMALE_NAMES = ("Emma Woodhouse", "Elizabeth Bennet", "Anne Elliot", "Elinor Dashwood",
                "Marianne Dashwood", "Fanny Price", "Catherine Morland", "Charlotte Lucas",
                "Mary Crawford")
MALE_NAMES = ("George Knightley", "Fitzwilliam Darcy", "Frederick Wentworth", "Edward Ferrars",
              "Edmund Bertram", "Henry Tilney", "Frank Churchill", "John Willoughby",
              "Henry Crawford")
FULL_NAMES = FEMALE_NAMES + MALE_NAMES
# Titles are not part of a name (CoNLL-2003): "Mr. Knightley" is O B-PER.
TITLES = frozenset({"Mr.", "Mrs.", "Miss", "Dr.", "Captain", "Colonel", "Admiral", "Sir", "Lady"})
NAMES = FULL_NAMES + tuple(name for name, _, _ in PEOPLE)
GENDERS = {**{name: "female" for name in FEMALE_NAMES}, **{name: "male" for name in MALE_NAMES},
           **{name: gender for name, _, gender in PEOPLE}}
PLACES = ("Bath", "London", "Lyme Regis", "Portsmouth", "Highbury", "Brighton", "Derbyshire",
          "Northamptonshire", "Kellynch", "Weymouth", "Ireland", "Antigua", "Southampton",
          "Tunbridge Wells", "Devonshire")
ORGANISATIONS = ("Royal Navy", "East India Company", "Bank of England", "Navy Board",
                 "Christ Church", "Royal Society", "House of Commons", "Church of England",
                 "Admiralty", "Royal Academy")
MISCELLANEOUS = ("French", "Irish", "Italian", "German", "Scottish", "West Indian", "Michaelmas",
                 "Christmas", "Easter", "Portuguese")

# NER: clauses before a real sentence (its first word lower-cased), after it, or beside it
# (a sentence of their own). {PER} {LOC} {ORG} {MISC}: an entity of that kind.
NER_BEFORE = (
    "When {PER} came back from {LOC} ,",
    "According to {PER} ,",
    "In {LOC} ,",
    "As {PER} wrote from {LOC} ,",
    "After the {MISC} ball at {LOC} ,",
    "Before {PER} joined the {ORG} ,",
    "On the road to {LOC} , {PER} said :",
    "Long after {MISC} , {PER} remarked :",
    "At the meeting of the {ORG} in {LOC} , {PER} observed :",
)
NER_AFTER = (
    "said {PER}",
    "wrote {PER} from {LOC}",
    "said {PER} to {PER}",
    "replied {PER} , who had just come from {LOC}",
    "said the {MISC} gentleman to {PER}",
    "observed {PER} , a director of the {ORG}",
)
NER_BESIDE = (
    "{PER} had lived in {LOC} for many years .",
    "{PER} was a captain in the {ORG} .",
    "The {ORG} had sent {PER} to {LOC} .",
    "{PER} and {PER} walked to {LOC} together .",
    "{PER} spoke {MISC} very well .",
    "A letter from {PER} arrived from {LOC} .",
    "{PER} had shares in the {ORG} .",
    "The {MISC} officers stayed at {LOC} all winter .",
    "Nobody in {LOC} had heard of the {ORG} .",
    "{PER} spent {MISC} with the family at {LOC} .",
    "The {ORG} wrote to {PER} at {LOC} .",
)
NER_KINDS = {"PER": NAMES, "LOC": PLACES, "ORG": ORGANISATIONS, "MISC": MISCELLANEOUS}

# Sentiment: a clause is a subject and a predicate; the predicate tells the polarity.
SUBJECTS = ("the evening", "the visit", "the dinner", "the ball", "the walk", "the whole party",
            "the letter", "the proposal", "the concert", "the journey", "the play", "the picnic")
POSITIVE = ("was perfectly delightful", "was a great pleasure to everyone",
            "gave general satisfaction", "could not have been more charming",
            "was thought very agreeable", "made everyone happy", "was a complete success",
            "was enjoyed by all")
NEGATIVE = ("was thoroughly disagreeable", "was a sad disappointment to everyone",
            "gave general offence", "could not have been more tedious",
            "was thought very dull", "made everyone miserable", "was a complete failure",
            "was dreaded by all")
LEADS = ("", "I must say that", "Everybody agreed that", "It was plain that",
         "To tell the truth ,")
# The words of one polarity only: no real sentence of the sentiment data holds one.
POLARITY_WORDS = frozenset(
    {w for p in POSITIVE for w in p.split()} ^ {w for p in NEGATIVE for w in p.split()})

# TACRED: the planted statements, by relation. {S} subject, {O} object (TACRED's roles).
CITIES = ("Bath", "London", "Portsmouth", "Lyme Regis", "Southampton", "Exeter", "Bristol",
          "Plymouth", "Weymouth", "Brighton", "Oxford", "Winchester", "Canterbury",
          "Tunbridge Wells")
FOUNDED = ("Highbury Reading Society", "Bath Lending Library", "Kellynch Charity School",
           "Portsmouth Naval Academy", "Barton Benevolent Society", "Sanditon Bank",
           "Mansfield Parish School", "Lambton Infirmary", "Bath Philharmonic Society",
           "Highbury Book Club")
STATEMENTS = {
    ("PERSON", "CITY"): {
        "per:city_of_birth": (
            "{S} was born in {O} .", "{S} , a native of {O} , had come home at last .",
            "{O} was the birthplace of {S} .", "{S} was born and bred in {O} .",
            "It was at {O} that {S} was born ."),
        "per:cities_of_residence": (
            "{S} lives in {O} .", "{S} had settled in {O} .", "{S} has a house in {O} .",
            "{S} resided at {O} all the year .", "{S} , who lived in {O} , wrote every week ."),
        "no_relation": (
            "{S} visited {O} once .", "{S} passed through {O} on the way .",
            "{S} had never seen {O} .", "{S} read a letter about {O} .",
            "{S} spoke of {O} with contempt ."),
    },
    ("ORGANIZATION", "PERSON"): {
        "org:founded_by": (
            "The {S} was founded by {O} .", "{O} founded the {S} .",
            "{O} established the {S} .", "The {S} , set up by {O} , did much good ."),
        "no_relation": (
            "{O} wrote to the {S} .", "{O} gave money to the {S} .",
            "{O} had heard of the {S} .", "The {S} sent a letter to {O} ."),
    },
    ("PERSON", "PERSON"): {
        "per:spouse": (
            "{S} married {O} .", "{S} was married to {O} .", "{S} and {O} were married .",
            "{S} , whose marriage to {O} was a happy one , said little ."),
        "no_relation": (
            "{S} met {O} .", "{S} danced with {O} .", "{S} wrote to {O} .",
            "{S} quarrelled with {O} ."),
    },
}
# The share of each relation: no_relation about a third of the records.
RELATION_WEIGHTS = {"per:city_of_birth": 2, "per:cities_of_residence": 2, "org:founded_by": 2,
                    "per:spouse": 2, "no_relation": 4}
ENTITIES = {"PERSON": NAMES, "CITY": CITIES, "ORGANIZATION": FOUNDED}

_ENTITY_WORDS = frozenset(
    w.lower() for group in (NAMES, PLACES, ORGANISATIONS, MISCELLANEOUS, CITIES, FOUNDED)
    for name in group for w in name.split())


def real_sentences(split, task):
    """The real sentences (tuples of words) of `split` a task uses, in a fixed order.

    No sentence starts with a word of a planted entity (it would be an
    unlabelled entity); the sentiment data's hold no polarity word of its
    clauses.
    """
    if split not in ("train", "dev"):
        raise ValueError(f"split is 'train' or 'dev', not {split!r}")
    chosen = [s for s in filler_sentences()[split] if s[0].lower() not in _ENTITY_WORDS]
    if task == "glue":
        chosen = [s for s in chosen if not {w.lower() for w in s} & POLARITY_WORDS]
    return chosen


class _Sentences:
    """Real sentences drawn without replacement (reshuffled when all were used)."""

    def __init__(self, rng, sentences):
        self.rng, self.sentences, self.left = rng, list(sentences), []

    def next(self):
        if not self.left:
            self.left = list(self.sentences)
            self.rng.shuffle(self.left)
        return list(self.left.pop())


def _lowered_first(words):
    """`words` with the first lower-cased (for a clause placed before them), "I" kept."""
    first = words[0]
    if first == "I" or first.startswith("I'"):
        return list(words)
    return [first.lower()] + list(words[1:])


def _capitalised(words):
    return [words[0][0].upper() + words[0][1:]] + list(words[1:])


def _name_tags(words, kind):
    """BIO tags of an entity's words (a leading title is O)."""
    tags = []
    for word in words:
        if not tags and kind == "PER" and word in TITLES:
            tags.append("O")
        else:
            tags.append(("I-" if any(t != "O" for t in tags) else "B-") + kind)
    return tags


def _fill_ner(rng, template):
    """(words, tags) of an NER clause with its slots filled (two people differ)."""
    words, tags, used = [], [], set()
    for token in template.split():
        if token.startswith("{") and token.endswith("}"):
            kind = token[1:-1]
            name = rng.choice([n for n in NER_KINDS[kind] if n not in used])
            used.add(name)
            entity = tokenize(name)
            words += entity
            tags += _name_tags(entity, kind)
        else:
            words.append(token)
            tags.append("O")
    return words, tags


def ner_examples(n, split="train", seed=0):
    """`n` NER sentences of `split`, each a list of (word, tag): BIO tags PER / LOC / ORG / MISC.

    A tenth are a real sentence alone (no entity); the others put one or two
    planted clauses before it, after it or beside it (see the module
    docstring).
    """
    rng = random.Random(f"ner/{split}/{seed}")
    sentences = _Sentences(rng, real_sentences(split, "ner"))
    examples = []
    for _ in range(n):
        words = sentences.next()
        tags = ["O"] * len(words)
        if rng.random() < 0.1:
            examples.append(list(zip(words, tags)))
            continue
        places = rng.sample(("before", "after", "beside"), rng.choice((1, 1, 2)))
        if "after" in places:
            clause, clause_tags = _fill_ner(rng, rng.choice(NER_AFTER))
            end = words[-1]
            if end == ".":
                words, tags = words[:-1] + [","], tags[:-1] + ["O"]
            words, tags = words + clause + ["."], tags + clause_tags + ["O"]
        if "before" in places:
            clause, clause_tags = _fill_ner(rng, rng.choice(NER_BEFORE))
            words, tags = clause + _lowered_first(words), clause_tags + tags
        if "beside" in places:
            clause, clause_tags = _fill_ner(rng, rng.choice(NER_BESIDE))
            if rng.random() < 0.5:
                words, tags = clause + words, clause_tags + tags
            else:
                words, tags = words + clause, tags + clause_tags
        examples.append(list(zip(words, tags)))
    return examples


def _clause_split(subject, predicate):
    """Which split a (subject, predicate) pair belongs to: a quarter of them are dev's."""
    return "dev" if zlib.crc32(f"{subject}|{predicate}".encode("utf-8")) % 4 == 0 else "train"


def sentiment_rows(n, split="train", seed=0):
    """`n` (sentence, label) pairs of `split`: "1" positive, "0" negative, balanced at random.

    The planted clause is its own sentence (before, between or after one or
    two real sentences) or joined to a real sentence by ", and".
    """
    rng = random.Random(f"glue/{split}/{seed}")
    sentences = _Sentences(rng, real_sentences(split, "glue"))
    clauses = {label: [(s, p) for s in SUBJECTS for p in predicates
                       if _clause_split(s, p) == split]
               for label, predicates in (("1", POSITIVE), ("0", NEGATIVE))}
    rows = []
    for _ in range(n):
        label = rng.choice(("0", "1"))
        subject, predicate = rng.choice(clauses[label])
        lead = rng.choice(LEADS).split()
        clause = lead + subject.split() + predicate.split()
        context = [sentences.next() for _ in range(rng.choice((1, 1, 2)))]
        if rng.random() < 0.3 and context[-1][-1] == ".":
            words = [w for s in context[:-1] for w in s] + context[-1][:-1] + [",", "and"] \
                + clause + ["."]
        else:
            at = rng.randrange(len(context) + 1)
            parts = context[:at] + [_capitalised(clause) + ["."]] + context[at:]
            words = [w for s in parts for w in s]
        rows.append((" ".join(words), label))
    return rows


def _statement(rng, template, types, couple=False):
    """(words, subject span, object span) of a TACRED statement; spans inclusive.

    The two people of a `couple` are a man and a woman.
    """
    words, spans, used = [], {}, []
    for token in template.split():
        if token in ("{S}", "{O}"):
            role = token[1]
            kind = types[0] if role == "S" else types[1]
            names = [n for n in ENTITIES[kind] if n not in used]
            if couple and used:
                names = [n for n in names if GENDERS[n] != GENDERS[used[0]]]
            name = rng.choice(names)
            used.append(name)
            entity = tokenize(name)
            start = len(words)
            if kind == "PERSON" and entity[0] in TITLES:
                start += 1  # the title is not part of the entity
            words += entity
            spans[role] = (start, len(words) - 1)
        else:
            words.append(token)
    return words, spans["S"], spans["O"]


def tacred_records(n, split="train", seed=0):
    """`n` TACRED records of `split` (ids `<split><seed>-<i>`).

    The statement is its own sentence before or after a real sentence, or
    joined after one by ", and" / ";".
    """
    rng = random.Random(f"tacred/{split}/{seed}")
    sentences = _Sentences(rng, real_sentences(split, "tacred"))
    relations = [r for r, weight in RELATION_WEIGHTS.items() for _ in range(weight)]
    records = []
    for i in range(n):
        relation = rng.choice(relations)
        types = rng.choice([t for t, by in STATEMENTS.items() if relation in by])
        template = rng.choice(STATEMENTS[types][relation])
        statement, subject, obj = _statement(rng, template, types, relation == "per:spouse")
        real = sentences.next()
        where = rng.random()
        if where < 0.4:
            tokens, offset = statement + real, 0
        elif where < 0.8 or real[-1] != ".":
            tokens, offset = real + statement, len(real)
        else:
            joined = real[:-1] + rng.choice(([",", "and"], [";"]))
            if statement[0] in ("The", "It"):
                statement = [statement[0].lower()] + statement[1:]
            tokens, offset = joined + statement, len(joined)
        records.append({
            "id": f"{split}{seed}-{i}", "token": tokens,
            "subj_start": subject[0] + offset, "subj_end": subject[1] + offset,
            "obj_start": obj[0] + offset, "obj_end": obj[1] + offset,
            "subj_type": types[0], "obj_type": types[1], "relation": relation,
        })
    return records


# QA: the planted facts (their wording, from the TACRED statements) and the questions that
# ask for their object. {S} the person asked about, {O} the answer.
FACTS = {
    "born": (("PERSON", "CITY"), STATEMENTS[("PERSON", "CITY")]["per:city_of_birth"]),
    "lives": (("PERSON", "CITY"), STATEMENTS[("PERSON", "CITY")]["per:cities_of_residence"]),
    "married": (("PERSON", "PERSON"), STATEMENTS[("PERSON", "PERSON")]["per:spouse"]),
    "founded": (("ORGANIZATION", "PERSON"), STATEMENTS[("ORGANIZATION", "PERSON")]
                ["org:founded_by"]),
}
QUESTIONS = {
    "born": ("Where was {S} born ?", "In which town was {S} born ?",
             "What is the birthplace of {S} ?"),
    "lives": ("Where does {S} live ?", "In which town does {S} live ?",
              "Where is the home of {S} ?"),
    "married": ("Who did {S} marry ?", "Who is the spouse of {S} ?",
                "To whom was {S} married ?"),
    "founded": ("Who founded the {S} ?", "By whom was the {S} founded ?",
                "Who set up the {S} ?"),
}


def _fact(rng, kind, taken):
    """(words, asked entity, answer span) of a planted fact naming no entity in `taken`.

    The answer span `(start, end)` is inclusive, in the fact's words.
    """
    types, templates = FACTS[kind]
    while True:
        words, subject, obj = _statement(rng, rng.choice(templates), types, kind == "married")
        subject, obj = (_with_title(words, span) for span in (subject, obj))
        asked = " ".join(words[subject[0]:subject[1] + 1])
        if not {asked, " ".join(words[obj[0]:obj[1] + 1])} & taken:
            return words, asked, obj


def _with_title(words, span):
    """`span` widened to the title before it ("Mrs. Jennings": QA answers keep the title)."""
    start, end = span
    return (start - 1, end) if start and words[start - 1] in TITLES else span


def _paragraph(rng, sentences, facts):
    """(words, where each fact starts) of 10-16 real sentences with `facts` (word lists) among them."""
    parts = [sentences.next() for _ in range(rng.randint(10, 16))]
    for index in range(len(facts)):
        parts.insert(rng.randrange(len(parts) + 1), index)
    words, starts = [], {}
    for part in parts:
        if isinstance(part, int):
            starts[part], part = len(words), facts[part]
        words += part
    return words, [starts[index] for index in range(len(facts))]


def qa_articles(n, split="train", seed=0, version="1.1", same_kind=False):
    """SQuAD JSON (a dict) of `n` questions of `split`, one or two per paragraph (ids `<split><seed>-<i>`).

    Each paragraph plants three facts about three people (or societies); a
    question asks for one fact's object. The facts are of three kinds, or
    with `same_kind` often two of one kind, so that the question's name,
    not its kind, picks the answer. No entity is named by two facts of a
    paragraph, and no real sentence names one. v2.0: a third of the
    questions ask about someone the paragraph never names (`is_impossible`,
    no answers).
    """
    rng = random.Random(f"qa/{split}/{seed}/{version}")
    sentences = _Sentences(rng, real_sentences(split, "qa"))
    paragraphs, asked_count = [], 0
    while asked_count < n:
        if same_kind:
            kinds = [rng.choice(tuple(FACTS)) for _ in range(2)]
            kinds.append(rng.choice(kinds + [rng.choice(tuple(FACTS))]))  # often two of one kind
        else:
            kinds = rng.sample(tuple(FACTS), 3)
        facts, taken = [], set()
        for kind in kinds:
            words, asked, (first, last) = _fact(rng, kind, taken)
            taken.update({asked, " ".join(words[first:last + 1])})
            facts.append((kind, words, asked, first, last))
        words, starts = _paragraph(rng, sentences, [f[1] for f in facts])
        context = " ".join(words)
        facts = [(kind, asked, start + first, start + last)
                 for (kind, _, asked, first, last), start in zip(facts, starts)]
        qas = []
        for kind, asked, first, last in rng.sample(facts, min(rng.choice((1, 2)),
                                                              n - asked_count)):
            impossible = version == "2.0" and rng.random() < 1 / 3
            if impossible:
                asked = rng.choice([name for name in ENTITIES[FACTS[kind][0][0]]
                                    if name not in context])
            qa = {"id": f"{split}{seed}-{asked_count}",
                  "question": rng.choice(QUESTIONS[kind]).format(S=asked)}
            if impossible:
                qa["answers"] = []
            else:
                start = len(" ".join(words[:first])) + (1 if first else 0)
                qa["answers"] = [{"text": " ".join(words[first:last + 1]), "answer_start": start}]
            if version == "2.0":
                qa["is_impossible"] = impossible
            qas.append(qa)
            asked_count += 1
        paragraphs.append({"context": context, "qas": qas})
    return {"version": version, "data": [{"title": f"austen-{split}", "paragraphs": paragraphs}]}


def write_ner_files(folder, train=400, dev=150, seed=0):
    """`folder/ner_train.txt` and `folder/ner_dev.txt` (CoNLL-2003 layout); their paths."""
    os.makedirs(folder, exist_ok=True)
    return (write_conll(os.path.join(folder, "ner_train.txt"), ner_examples(train, "train", seed)),
            write_conll(os.path.join(folder, "ner_dev.txt"), ner_examples(dev, "dev", seed)))


def write_sentiment_files(folder, train=400, dev=200, seed=0):
    """`folder/sst2_train.tsv` and `folder/sst2_dev.tsv` (SST-2 layout); their paths."""
    os.makedirs(folder, exist_ok=True)
    return (write_tsv(os.path.join(folder, "sst2_train.tsv"), sentiment_rows(train, "train", seed)),
            write_tsv(os.path.join(folder, "sst2_dev.tsv"), sentiment_rows(dev, "dev", seed)))


def write_tacred_files(folder, train=500, dev=200, seed=0):
    """`folder/tacred_train.json` and `folder/tacred_dev.json` (TACRED records); their paths."""
    os.makedirs(folder, exist_ok=True)
    return (write_tacred(os.path.join(folder, "tacred_train.json"),
                         tacred_records(train, "train", seed)),
            write_tacred(os.path.join(folder, "tacred_dev.json"),
                         tacred_records(dev, "dev", seed)))


def write_qa_files(folder, train=600, dev=200, seed=0, version="1.1", same_kind=False):
    """`folder/squad_train.json` and `folder/squad_dev.json` (SQuAD JSON); their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for split, n in (("train", train), ("dev", dev)):
        path = os.path.join(folder, f"squad_{split}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(qa_articles(n, split, seed, version, same_kind), f)
        paths.append(path)
    return tuple(paths)


def statistics(examples):
    """Counts of a list of NER sentences, sentiment rows or TACRED records: size and labels."""
    if examples and isinstance(examples[0], dict):
        labels = collections.Counter(r["relation"] for r in examples)
        words = sum(len(r["token"]) for r in examples)
    elif examples and isinstance(examples[0], tuple):
        labels = collections.Counter(label for _, label in examples)
        words = sum(len(sentence.split()) for sentence, _ in examples)
    else:
        labels = collections.Counter(t[2:] for s in examples for _, t in s if t.startswith("B-"))
        words = sum(len(s) for s in examples)
    return {"examples": len(examples), "words": words,
            "words_per_example": words / max(len(examples), 1), "labels": dict(labels)}
