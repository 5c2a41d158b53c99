"""The Benchmarks page shows the figures of the results files, each typed nowhere else.

`docs/hooks/benchmark_figures.py` replaces the page's placeholders
(`{{ bench(...) }}`, `{{ time_to_accuracy_row(...) }}`) with figures read from
`benchmarks/results/*.json`, which the benchmark scripts write. These tests
render the page from the real files, check that a placeholder the files cannot
answer fails with a message naming the file and the key, and that the page's
tables type no figure by hand. No TensorFlow.
"""

import importlib.util
import json
import math
import os
import re
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPO, "docs", "benchmarks.md")
HOOK = os.path.join(REPO, "docs", "hooks", "benchmark_figures.py")
RESULTS = os.path.join(REPO, "benchmarks", "results")

# Words of the page's figure cells that hold digits but are names, not figures.
NAMES_WITH_DIGITS = re.compile(r"top-[15]|float32|bfloat16")


def load_hook():
    spec = importlib.util.spec_from_file_location("benchmark_figures", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook()


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def results_file(name):
    return json.loads(read(os.path.join(RESULTS, f"{name}.json")))


def render_page():
    return hook.render(read(PAGE), hook.Results(REPO))


def tables(text):
    """{header line: [row lines]} of the Markdown tables of `text`."""
    found, lines = {}, text.split("\n")
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            found[line] = rows
    return found


def cells(row):
    """The cells of a raw table row; a placeholder's own characters never split one."""
    placeholders = []

    def hide(match):
        placeholders.append(match.group(0))
        return f"\0{len(placeholders) - 1}\0"

    hidden = hook.PLACEHOLDER.sub(hide, row)
    parts = hidden.strip().strip("|").split("|")
    return [re.sub(r"\0(\d+)\0", lambda m: placeholders[int(m.group(1))], p).strip()
            for p in parts]


def write_results(folder, name, data):
    path = folder / "benchmarks" / "results"
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    return hook.Results(str(folder))


def test_the_hook_is_registered_with_the_site():
    config = read(os.path.join(REPO, "mkdocs.yml"))
    hooks = config.split("\nhooks:\n", 1)[1]
    assert "- docs/hooks/benchmark_figures.py" in hooks


def test_every_placeholder_of_the_page_renders_from_the_results_files():
    text = read(PAGE)
    assert len(hook.PLACEHOLDER.findall(text)) >= 60
    rendered = render_page()
    assert "{{" not in rendered and "}}" not in rendered
    # a few figures, as the files hold them
    masking = results_file("masking")["span_unigram_64x512"]
    assert f"SpanMasker {masking['median_blocks_per_s']['span_masker']:,.0f} blocks/s" in rendered
    assert f"**{masking['span_masker_over']['keras_hub']:.2f}x**" in rendered
    xla = results_file("train_step")["cpu_tiny_64x32_v4000_float32_xla"]
    assert f"SpanBERT {xla['results']['spanbert']['tokens_per_s']:,.0f} tokens/s" in rendered
    assert f"no more than that; {'met' if xla['meets_target'] else 'missed'})" in rendered
    coref = results_file("coref")["base"]
    assert f"encoder {coref['forward_split_share']['encoder']:.0%}" in rendered


def test_the_time_to_accuracy_rows_are_the_results_file():
    recipes = results_file("time_to_accuracy")
    header = next(h for h in tables(read(PAGE)) if h.startswith("| recipe (changes) |"))
    raw_rows = tables(read(PAGE))[header]
    rendered_rows = tables(render_page())[header]
    assert len(raw_rows) == len(rendered_rows) >= 11
    for raw, rendered in zip(raw_rows, rendered_rows):
        assert len(cells(raw)) == 2, f"a row not from the results file: {raw}"
        label, figures = cells(raw)
        name = re.fullmatch(r'\{\{ time_to_accuracy_row\("([^"]+)"\) \}\}', figures).group(1)
        assert f"`{name}`" in label
        entry = recipes[name]
        last = entry["points"][-1]
        shown = cells(rendered)
        assert len(shown) == 6 and shown[0] == label
        assert shown[1] == f"{last['minutes']:.1f}"
        assert shown[2].startswith(f"{last['step']:,} x ")
        assert shown[3].startswith(f"{last['mlm_accuracy']:.3f}")
        assert shown[3].endswith(f" / {last['sbo_accuracy']:.3f}")
        assert shown[4].startswith(f"{1000 * entry['split']['pipeline_step']:.0f} ms: ")
        assert shown[5] == f"{entry['step_gflops_per_second']:.0f}"


def test_no_figure_of_the_benchmarks_table_is_typed_by_hand():
    header = "| what | figure | command |"
    rows = tables(read(PAGE))[header]
    assert len(rows) >= 5
    for row in rows:
        figure = cells(row)[1]
        assert hook.PLACEHOLDER.search(figure), row
        typed = hook.CODE_SPAN.sub("", hook.PLACEHOLDER.sub("", figure))
        typed = NAMES_WITH_DIGITS.sub("", typed)
        assert not re.search(r"\d", typed), f"a typed figure in: {typed}"


def test_the_pages_conclusions_hold_for_its_figures():
    """What the prose concludes from the figures, checked against the figures."""
    steps = {key.removeprefix("cpu_tiny_64x32_v4000_"): entry["results"]["spanbert"]["step_s"]
             for key, entry in results_file("train_step").items()
             if key.startswith("cpu_tiny_64x32_v4000_")}
    # XLA, not bfloat16: bfloat16 gains on the float32 graph, not enough to catch up with XLA
    assert steps["float32_xla"] < steps["mixed_bfloat16_graph"] < steps["float32_graph"]

    recipes = results_file("time_to_accuracy")

    def last(recipe, key="mlm_accuracy"):
        return recipes[recipe]["points"][-1][key]

    frequent = recipes["lr2e-3"]["baseline"]["1"]
    assert abs(last("lr5e-3") - frequent) < 0.005  # 5e-3 never leaves the frequent pieces
    assert frequent < last("lr2e-3") < last("lr1e-3") - 0.03  # 2e-3 stays near them
    assert recipes["lr1e-3"]["points"][1]["mlm_accuracy"] > frequent + 0.01  # 1e-3 learns early
    assert abs(last("lr2e-3-warmup800") - last("lr1e-3-vocab4k")) < 0.01  # about as well
    # short blocks: the [MASK] targets start with blocks of 32, not with blocks of 64
    assert last("lr1e-3-seq32", "mlm_masked_accuracy") > 1.5 * last(
        "lr1e-3-vocab4k", "mlm_masked_accuracy")
    # 4,000 pieces: fewer FLOPs, a shorter step
    assert recipes["lr1e-3-vocab4k"]["flops_per_step"] < recipes["lr1e-3"]["flops_per_step"]
    assert (recipes["lr1e-3-vocab4k"]["split"]["pipeline_step"]
            < recipes["lr1e-3"]["split"]["pipeline_step"])
    # wider: more per token (same tokens at the same point), less per minute
    wide, narrow = recipes["lr1e-3-hidden256"]["points"][2], recipes["lr1e-3"]["points"][2]
    assert wide["tokens"] == narrow["tokens"] and wide["mlm_accuracy"] > narrow["mlm_accuracy"]
    assert last("lr1e-3-hidden256") < last("lr1e-3")
    assert abs(last("lr1.5e-3-batch64") - last("lr1e-3")) < 0.01  # next to nothing per minute
    # the demo's step: compute-bound, no slower fed by the pipeline than on a cached batch
    split = recipes["demo-4800"]["split"]
    assert split["input"] < 0.05 * split["pipeline_step"]
    assert split["pipeline_step"] <= split["cached_step"]
    assert (recipes["lr1e-3-hidden256"]["step_gflops_per_second"]
            > recipes["demo-4800"]["step_gflops_per_second"])


def test_a_missing_key_fails_with_the_file_and_the_key():
    results = hook.Results(REPO)
    with pytest.raises(hook.FigureError, match=r"benchmarks/results/masking\.json has no "
                                               r"'span_unigram_64x512/no_such_figure'.*keys "):
        hook.bench(results, "masking", "span_unigram_64x512/no_such_figure", ".1f")
    with pytest.raises(hook.FigureError, match=r"no_such_benchmark\.json does not exist"):
        hook.render('{{ bench("no_such_benchmark", "a", ".1f") }}', results)
    with pytest.raises(hook.FigureError, match="has no 'no-such-recipe'"):
        hook.time_to_accuracy_row(results, "no-such-recipe")
    with pytest.raises(hook.FigureError, match="unknown placeholder"):
        hook.render('{{ bnech("masking", "a") }}', results)


def test_a_missing_figure_fails_the_build_naming_the_page():
    from mkdocs.exceptions import PluginError

    hook.on_config({"config_file_path": os.path.join(REPO, "mkdocs.yml")})
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="benchmarks.md"))
    with pytest.raises(PluginError, match=r"docs/benchmarks\.md: .*masking\.json has no"):
        hook.on_page_markdown('x {{ bench("masking", "nothing", "d") }}', page, {}, None)


def test_figures_are_formatted_as_written(tmp_path):
    results = write_results(tmp_path, "demo", {
        "rate": 5297.4, "ratio": 1.4012, "share": 0.2441, "seconds": 0.0737, "met": True,
        "name": "CPU", "runs": [{"load": 1.04}, {"load": 2.71}, {"load": 1.5}], "missing": None,
        "nan": math.nan,
    })

    def show(text):
        return hook.render(text, results)

    assert show('{{ bench("demo", "rate", ",.0f") }} blocks/s') == "5,297 blocks/s"
    assert show('**{{ bench("demo", "ratio", ".2f") }}x**') == "**1.40x**"
    assert show('{{ bench("demo", "share", ".0%") }}') == "24%"
    assert show('{{ bench("demo", "seconds", ".1f", scale=1000) }} ms') == "73.7 ms"
    assert show('target {{ bench("demo", "met", "met/missed") }}') == "target met"
    assert show('{{ bench("demo", "name") }}') == "CPU"
    assert show('load {{ bench("demo", "runs/*/load", ".1f") }}') == "load 1.0\u20132.7"
    assert show('{{ bench("demo", "runs/-1/load", ".1f") }}') == "1.5"
    # inside code, a placeholder is shown as written
    assert show('`{{ bench("demo", "rate") }}`') == '`{{ bench("demo", "rate") }}`'
    assert show('```\n{{ bench("demo", "rate") }}\n```') == '```\n{{ bench("demo", "rate") }}\n```'
    for text, message in (('{{ bench("demo", "missing", ".1f") }}', "None is not a figure"),
                          ('{{ bench("demo", "nan", ".1f") }}', "the figure is nan"),
                          ('{{ bench("demo", "name", ".1f") }}', "Unknown format code"),
                          ('{{ bench("demo", "runs/3/load", ".1f") }}', "a list of 3"),
                          ('{{ bench("demo", key, ".1f") }}', "must be literals")):
        with pytest.raises(hook.FigureError, match=message):
            show(text)
