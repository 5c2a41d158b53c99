"""Oracles for SQuAD v2.0, written from the published sources, apart from the package.

- The official `evaluate-v2.0.py` (the functions the authors' `run_squad.py`
  copies): `normalize_answer`, `compute_exact`, `compute_f1`,
  `get_raw_scores`, `make_qid_to_has_ans`, `apply_no_ans_threshold`,
  `make_eval_dict`, `find_best_thresh` and its `evaluate` main (figures x 100,
  as the script prints them). They read the SQuAD JSON `data` list.
- The authors' v2.0 decoding (`make_predictions` of their `run_squad.py`) on
  windows given as arrays, with answers read by character offsets in place
  of their `get_final_text`: the top-n starts x top-n ends of every window,
  the null score the smallest [CLS] score over the windows, the prediction
  the best non-null entry, `score_diff = score_null - its score`; and their
  test-time rule (`preds[k] = ''` where `score_diff > threshold`).
"""

import collections
import re
import string


def normalize_answer(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def get_tokens(s):
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
    gold_toks, pred_toks = get_tokens(a_gold), get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def make_qid_to_has_ans(dataset):
    return {qa["id"]: bool(qa["answers"])
            for article in dataset for p in article["paragraphs"] for qa in p["qas"]}


def get_raw_scores(dataset, preds):
    exact_scores, f1_scores = {}, {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                gold_answers = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])]
                if not gold_answers:
                    gold_answers = [""]
                if qid not in preds:
                    continue
                a_pred = preds[qid]
                exact_scores[qid] = max(compute_exact(a, a_pred) for a in gold_answers)
                f1_scores[qid] = max(compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
    new_scores = {}
    for qid, s in scores.items():
        pred_na = na_probs[qid] > na_prob_thresh
        new_scores[qid] = float(not qid_to_has_ans[qid]) if pred_na else s
    return new_scores


def make_eval_dict(exact_scores, f1_scores, qid_list=None):
    if not qid_list:
        total = len(exact_scores)
        return {"exact": 100.0 * sum(exact_scores.values()) / total,
                "f1": 100.0 * sum(f1_scores.values()) / total, "total": total}
    total = len(qid_list)
    return {"exact": 100.0 * sum(exact_scores[k] for k in qid_list) / total,
            "f1": 100.0 * sum(f1_scores[k] for k in qid_list) / total, "total": total}


def find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def evaluate(dataset, preds, na_probs=None, na_prob_thresh=1.0):
    """The script's `main` without files: its output dict (x 100)."""
    if na_probs is None:
        na_probs = {k: 0.0 for k in preds}
    qid_to_has_ans = make_qid_to_has_ans(dataset)
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = get_raw_scores(dataset, preds)
    exact_thresh = apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    f1_thresh = apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    out_eval = make_eval_dict(exact_thresh, f1_thresh)
    for prefix, qids in (("HasAns", has_ans_qids), ("NoAns", no_ans_qids)):
        if qids:
            for k, v in make_eval_dict(exact_thresh, f1_thresh, qid_list=qids).items():
                out_eval[f"{prefix}_{k}"] = v
    out_eval["best_exact"], out_eval["best_exact_thresh"] = find_best_thresh(
        preds, exact_raw, na_probs, qid_to_has_ans)
    out_eval["best_f1"], out_eval["best_f1_thresh"] = find_best_thresh(
        preds, f1_raw, na_probs, qid_to_has_ans)
    return out_eval


def _best_indexes(logits, n_best_size):
    order = sorted(enumerate(logits), key=lambda x: x[1], reverse=True)
    return [i for i, _ in order[:n_best_size]]


def authors_predictions(contexts, qids, windows, start_logits, end_logits, n_best_size,
                        max_answer_length):
    """`(preds, scores_diff)`: the authors' v2.0 `make_predictions` on the windows.

    `windows`: dict of arrays `example_index` [W], `char_start`, `char_end`,
    `max_context` [W, L] (a position is in the passage where `char_start >=
    0`); `start_logits`, `end_logits` [W, L].
    """
    preds, scores_diff = {}, {}
    for e, (context, qid) in enumerate(zip(contexts, qids)):
        prelim = []  # (score, window, start, end)
        score_null = 1000000
        for w in [w for w, x in enumerate(windows["example_index"]) if x == e]:
            start, end = [float(x) for x in start_logits[w]], [float(x) for x in end_logits[w]]
            in_doc = [s >= 0 for s in windows["char_start"][w]]
            score_null = min(score_null, start[0] + end[0])
            for i in _best_indexes(start, n_best_size):
                for j in _best_indexes(end, n_best_size):
                    if not (in_doc[i] and in_doc[j] and windows["max_context"][w][i]):
                        continue
                    if j < i or j - i + 1 > max_answer_length:
                        continue
                    prelim.append((start[i] + end[j], w, i, j))
        prelim.sort(key=lambda p: p[0], reverse=True)
        score, w, i, j = prelim[0]  # the best non-null entry (texts are never empty here)
        text = context[windows["char_start"][w][i] : windows["char_end"][w][j]]
        preds[qid] = text
        scores_diff[qid] = score_null - score
    return preds, scores_diff


def answers_at_test_time(preds, scores_diff, threshold):
    """The authors' answers to test questions: '' where `score_diff > threshold`."""
    return {k: "" if scores_diff[k] > threshold else v for k, v in preds.items()}
