"""The documentation: the site builds, its links resolve, its code is sound, nothing is lost.

The README is the front page and docs/ the site (mkdocs.yml). These tests build
the site as `make docs` does, follow every relative link of the README and of
the pages (anchors included), compile the pages' Python blocks (running them is
tests/test_docs_code_runs.py's, in the slow set), check that the
`spanbert-keras` commands they show exist, and check that every heading and
table of the README as it was before the site (a 1,000-line README) is still
in the README or in a page.
"""

import collections
import importlib.util
import json
import os
import re
import subprocess
import sys
import unicodedata

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")
README = os.path.join(REPO, "README.md")

# The `##` / `###` headings of the README before its content moved into docs/.
OLD_README_HEADINGS = [
    "What `make demo` does",
    "The built-in preset `austen-tiny`",
    "Quickstart in Python",
    "The command line",
    "Interruptions, a full disk, two runs at once",
    "Start from the released SpanBERT",
    "The authors' fine-tuned models",
    "Fine-tuning",
    "Relation extraction, classification and NER",
    "Coreference resolution",
    "Scaling out",
    "Configuration reference",
    "Departures from the authors",
    "Export and serving",
    "Benchmarks",
    "Time to accuracy",
    "Development",
]

# Its tables: the header row and the number of rows (a table may have grown since).
OLD_README_TABLES = [
    ("| | held-out MLM / SBO accuracy | `fill_spans` top-1 / top-5, MLM (SBO) | the most frequent pieces |", 1),
    ("| checkpoint | encoder | pooler | MLM head | SBO head |", 5),
    ("| what | figure | command |", 3),
    ("| task | options (`--set options.KEY=VALUE`) | last line printed | `predictions.json` |", 3),
    ("| model | `serving_default` inputs | outputs |", 3),
    ("| task | held-out score | epochs, wall time (fine-tune + score + export) |", 3),
    ("| options (`--set options.KEY=VALUE`) | default (the authors') |", 4),
    ("| `--strategy` | where | |", 5),
    ("| what | figure | command |", 8),
    ("| section | key | default | meaning |", 26),
    ("| topic | the authors | spanbert-keras | why |", 21),
    ("| what | figure | command |", 5),
    ("| recipe (changes) | minutes | steps x batch x length | held-out MLM (at `[MASK]`) / SBO "
     # the share of the 2048^2 matmul left the heading: no results file holds the rates it used
     "| step: input / forward+backward / optimiser | GFLOP/s |", 11),
]

# Its figure, by its alternative text.
OLD_README_FIGURES = ["held-out accuracy against minutes and tokens"]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def doc_pages():
    """Every Markdown page under docs/, as paths relative to docs/."""
    pages = []
    for root, _, files in os.walk(DOCS):
        for name in files:
            if name.endswith(".md"):
                pages.append(os.path.relpath(os.path.join(root, name), DOCS))
    return sorted(pages)


def split_fences(text):
    """(prose, blocks): the text outside fenced code (fences blanked), and the
    fenced blocks as (language, code)."""
    prose, blocks = [], []
    fence = None
    for line in text.split("\n"):
        match = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
        if fence is None and match:
            fence, language, code = match.group(1), match.group(2), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence) and not line.strip()[len(fence):].strip():
            blocks.append((language, "\n".join(code) + "\n"))
            fence = None
            prose.append("")
        elif fence is not None:
            code.append(line)
            prose.append("")
        else:
            prose.append(line)
    assert fence is None, "an unclosed code fence"
    return "\n".join(prose), blocks


def strip_code_spans(text):
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def heading_text(raw):
    """A heading's text as rendered: no code marks, emphasis or link targets."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw.strip())
    text = text.replace("`", "").replace("**", "").replace("*", "")
    return re.sub(r"\s*\{[^}]*\}\s*$", "", text).strip()


def headings(path):
    prose, _ = split_fences(read(path))
    return [heading_text(m.group(2)) for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", prose, re.M)]


def toc_slug(text):
    """Python-Markdown's toc slug (the site's anchors)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def github_slug(text):
    """GitHub's anchor of a heading (the README and pages read on GitHub)."""
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path, slug):
    found = set()
    for text in headings(path):
        anchor = slug(text)
        number = 0
        while anchor in found:  # repeated headings: -1, -2 on GitHub; _1, _2 on the site
            number += 1
            anchor = f"{slug(text)}{'_' if slug is toc_slug else '-'}{number}"
        found.add(anchor)
    found.update(re.findall(r"\{[^}]*#([\w-]+)[^}]*\}", read(path)))
    return found


def api_anchor_exists(path, anchor):
    """An anchor mkdocstrings generates: an object of a module the page documents."""
    modules = re.findall(r"^::: ([\w.]+)", read(path), re.M)
    return any(anchor == m or anchor.startswith(m + ".") for m in modules)


def links(path):
    """(target, line) of every Markdown link and image outside code."""
    prose, _ = split_fences(read(path))
    found = []
    for number, line in enumerate(strip_code_spans(prose).split("\n"), 1):
        for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            found.append((match.group(1), number))
    return found


def check_link(source, target, slugs):
    """An error message, or None when `target` (relative to `source`) resolves."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
        return None
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(source), path)) if path else source
    if not os.path.exists(resolved):
        return f"{target}: no such file"
    if source.startswith(DOCS + os.sep) and not resolved.startswith(DOCS + os.sep):
        return f"{target}: outside docs/, which the site does not publish"
    if anchor:
        if not resolved.endswith(".md"):
            return f"{target}: an anchor into a file that is not a page"
        if os.path.relpath(resolved, DOCS).startswith("api" + os.sep) and api_anchor_exists(resolved, anchor):
            return None
        for slug in slugs:
            if anchor not in anchors(resolved, slug):
                return f"{target}: no heading with the anchor #{anchor} in {os.path.relpath(resolved, REPO)}"
    return None


def test_the_site_builds_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (make install does)")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         os.path.join(REPO, "mkdocs.yml"), "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    for page in doc_pages():
        folder, name = os.path.split(page[: -len(".md")])
        html = site / folder / ("" if name == "index" else name) / "index.html"
        text = html.read_text(encoding="utf-8")
        assert "--8<--" not in text, f"{page}: a snippet was not included"
        for module in re.findall(r"^::: ([\w.]+)", read(os.path.join(DOCS, page)), re.M):
            assert f'id="{module}"' in text or page == "api/index.md", f"{page}: {module} not documented"
    # the README's blocks are shown where the pages include them
    assert "DEMO_CORPUS" in (site / "pretraining" / "index.html").read_text(encoding="utf-8")
    assert "austen.txt" in (site / "getting-started" / "index.html").read_text(encoding="utf-8")
    assert (site / "images" / "time_to_accuracy.png").stat().st_size > 10_000


def test_every_page_is_in_the_navigation():
    nav = read(os.path.join(REPO, "mkdocs.yml")).split("\nnav:", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"([\w/-]+\.md)", nav))
    assert listed == set(p.replace(os.sep, "/") for p in doc_pages())


def test_relative_links_resolve():
    errors = []
    for target, line in links(README):
        # GitHub shows the README and its linked pages: both slug rules must agree
        error = check_link(README, target, (toc_slug, github_slug))
        if error:
            errors.append(f"README.md:{line}: {error}")
    readme_targets = {t.split("#")[0] for t, _ in links(README)}
    assert "docs/index.md" in readme_targets
    for page in doc_pages():
        path = os.path.join(DOCS, page)
        for target, line in links(path):
            error = check_link(path, target, (toc_slug,))
            if error:
                errors.append(f"docs/{page}:{line}: {error}")
    assert not errors, "\n".join(errors)


def test_the_readme_is_a_front_page():
    text = read(README)
    assert len(text.splitlines()) <= 200
    assert "keras-nlp" in text and "keras_hub" in text
    # it points at every part of the site
    targets = {t.split("#")[0] for t, _ in links(README)}
    for page in ("pretraining.md", "checkpoints.md", "fine-tuning/index.md",
                 "fine-tuning/coreference.md", "export-and-serving.md", "scaling-out.md",
                 "benchmarks.md", "cli.md", "presets.md", "run-directories.md",
                 "architecture.md", "span-masking.md", "departures.md"):
        assert f"docs/{page}" in targets, page


def test_the_architecture_page_draws_the_data_flow():
    _, blocks = split_fences(read(os.path.join(DOCS, "architecture.md")))
    mermaid = [code for language, code in blocks if language == "mermaid"]
    assert len(mermaid) == 1
    # text -> blocks -> masks -> model -> losses -> export, and where fine-tuning branches off
    for box in ("text files", "vocabulary", "tf.data", "blocks", "masks",
                "SpanBertPretrainingPreprocessor", "SpanBertPretrainer", "MLM head", "SBO head",
                "losses", "run directory", "SavedModel", "TFLite", "fine-tuning", "pipeline",
                "predict"):
        assert box in mermaid[0], box
    edges = re.findall(r"(\w+)\s*-->", mermaid[0]) + re.findall(r"-->(?:\|[^|]*\|)?\s*(\w+)", mermaid[0])
    for node in ("text", "blocks", "masks", "pretrainer", "losses", "run", "export"):
        assert node in edges, node


def test_the_site_has_the_guides_references_and_design_pages():
    nav = read(os.path.join(REPO, "mkdocs.yml")).split("\nnav:", 1)[1].split("\n\n", 1)[0]
    for section in ("Guides:", "Reference:", "Design:"):
        assert f"- {section}" in nav, section
    tasks = [p for p in doc_pages() if p.startswith("fine-tuning" + os.sep) and
             not p.endswith("index.md")]
    assert len(tasks) == 5  # a page a task: squad, tacred, glue, ner, coref


def test_generated_sections_follow_the_code(tmp_path):
    """The command-line page shows every command's current --help; the run-directory page
    every name RunDirectory defines."""
    sys.path.insert(0, os.path.join(DOCS, "hooks"))
    try:
        import generated_reference
    finally:
        sys.path.pop(0)
    cli = generated_reference.cli_reference()
    for command in subcommands():
        assert f"## `spanbert-keras {command}`" in cli, command
    assert "--run DIR" in cli and "--init PATH" in cli
    layout = generated_reference.run_directory_layout()
    names = subprocess.run(
        [sys.executable, "-c", "import json; from spanbert_keras.run_layout import RunDirectory; "
                               "print(json.dumps(RunDirectory.names()))"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SPANBERT_KERAS_DEFER_IMPORTS": "1"})
    assert names.returncode == 0, names.stderr[-3000:]
    for name in json.loads(names.stdout.strip().splitlines()[-1]).values():
        assert name in layout, name
    assert "<!-- generated: cli-reference -->" in read(os.path.join(DOCS, "cli.md"))
    assert "<!-- generated: run-directory-layout -->" in read(os.path.join(DOCS,
                                                                         "run-directories.md"))
    page = type("Page", (), {"file": type("File", (), {"src_path": "x.md"})()})()
    with pytest.raises(ValueError, match="no generated section 'nothing'"):
        generated_reference.on_page_markdown("<!-- generated: nothing -->", page)


def subcommands():
    code = ("import argparse, json; from spanbert_keras.cli import _parser; "
            "actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]; "
            "print(json.dumps(sorted(actions[0].choices)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "SPANBERT_KERAS_DEFER_IMPORTS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_code_blocks_are_sound():
    commands = subcommands()
    assert {"pretrain", "finetune", "export", "import", "convert", "predict"} <= commands
    errors, python_blocks, shown = [], 0, set()
    for page in ["../README.md"] + doc_pages():
        path = os.path.normpath(os.path.join(DOCS, page))
        _, blocks = split_fences(read(path))
        for language, code in blocks:
            if language == "python":
                python_blocks += 1
                try:
                    compile(code, path, "exec")
                except SyntaxError as error:
                    errors.append(f"{page}: {error}")
            elif language in ("bash", "sh", "shell", "console"):
                code = re.sub(r"(?:^|\s)#.*$", "", code, flags=re.M)  # comments
                for match in re.finditer(r"(?:^|[\s/])spanbert-keras\s+([a-z][\w-]*)", code, re.M):
                    shown.add(match.group(1))
                    if match.group(1) not in commands:
                        errors.append(f"{page}: `spanbert-keras {match.group(1)}` is no command")
    assert not errors, "\n".join(errors)
    assert python_blocks >= 8 and len(shown) >= 8


def test_nothing_of_the_old_readme_is_lost():
    sources = [README] + [os.path.join(DOCS, p) for p in doc_pages()]
    all_headings = {h for path in sources for h in headings(path)}
    missing = [h for h in OLD_README_HEADINGS if heading_text(h) not in all_headings]
    assert not missing, missing

    tables = []
    for path in sources:
        prose, _ = split_fences(read(path))
        lines = prose.split("\n")
        for i, line in enumerate(lines[:-1]):
            if line.startswith("|") and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
                rows = 0
                while i + 2 + rows < len(lines) and lines[i + 2 + rows].startswith("|"):
                    rows += 1
                tables.append((line.strip(), rows, path))
    unused = collections.Counter((header, rows) for header, rows, _ in tables)
    for header, rows in sorted(OLD_README_TABLES, key=lambda t: -t[1]):
        candidates = sorted((r, h) for (h, r), n in unused.items() if h == header and r >= rows and n)
        assert candidates, f"the table {header!r} ({rows} rows) is gone"
        unused[(header, candidates[0][0])] -= 1

    text = "\n".join(read(path) for path in sources)
    for alt in OLD_README_FIGURES:
        assert text.count(f"![{alt}](") == 1, alt
