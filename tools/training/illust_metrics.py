"""Decision rule, threshold choice and validation figures for the Illust Only classifier.

Why: the threshold shipped in model/contract.json and the figures in the model card must come from the
same code, applied to out-of-fold predictions (each image judged by a model that never saw its source).
The decision rule mirrors web/lib/decide.js: illustration when p(illustration) >= t, otherwise the
larger of screenshot/photo.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from illust_data import LABELS

ILLUSTRATION = LABELS.index("illustration")


def decide(probs: np.ndarray, threshold: float) -> np.ndarray:
    """probs [N,3] (LABELS order) -> predicted label index per image under the shipped decision rule."""
    probs = np.asarray(probs)
    other = np.where(probs[:, 1] >= probs[:, 2], 1, 2)
    return np.where(probs[:, ILLUSTRATION] >= threshold, ILLUSTRATION, other)


def illustration_recall(labels, probs, threshold, weights=None) -> float:
    labels, probs = np.asarray(labels), np.asarray(probs)
    is_ill = labels == ILLUSTRATION
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    kept = probs[:, ILLUSTRATION] >= threshold
    return float((w * (is_ill & kept)).sum() / max((w * is_ill).sum(), 1e-12))


def source_balanced_weights(sources) -> np.ndarray:
    """1 / (images of the source): every source counts once, whatever its size."""
    counts = defaultdict(int)
    for s in sources:
        counts[s] += 1
    return np.array([1.0 / counts[s] for s in sources])


def source_capped_weights(sources, cap: int) -> np.ndarray:
    """min(1, cap / images of the source): a big source counts as `cap` images, a small one as itself."""
    counts = defaultdict(int)
    for s in sources:
        counts[s] += 1
    return np.array([min(1.0, cap / counts[s]) for s in sources])


def largest_threshold_keeping(labels, probs, target_recall, weights=None) -> float:
    """The largest threshold t (one of the illustrations' own scores) at which illustration recall, with
    `weights` per image, is still >= target_recall; 0 when none is."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    best = 0.0
    for t in np.unique(probs[labels == ILLUSTRATION, ILLUSTRATION]):  # ascending: recall only falls as t rises
        if illustration_recall(labels, probs, t, weights) < target_recall:
            break
        best = float(t)
    return best


def choose_threshold(labels, probs, sources, target_recall=0.98, ceiling=0.5, floor=0.02, source_cap=40,
                     folds=None) -> dict:
    """The strictest threshold keeping illustration recall >= target per image, with big sources capped at
    `source_cap` images (so no single large source decides it), and, given `folds` (each image's fold), in
    every fold alone with capped sources: a pooled figure can hide a fold of unseen sources that scores
    lower, and users meet unseen sources one account at a time. Never above `ceiling` (a new source may
    score lower than ours) nor below `floor`. Returns {threshold, by_image, by_source, by_fold (the worst
    fold's), per_fold} where by_* is the largest threshold meeting the target on that weighting alone;
    the threshold is the smallest of them rounded down to the 4 decimals the contract ships."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    by_image = largest_threshold_keeping(labels, probs, target_recall)
    by_source = largest_threshold_keeping(labels, probs, target_recall, source_capped_weights(sources, source_cap))
    per_fold = []
    if folds is not None:
        folds = np.asarray(folds)
        for k in sorted(set(folds.tolist())):
            mask = folds == k
            if not (labels[mask] == ILLUSTRATION).any():
                continue  # a fold without illustrations has no recall to keep
            fold_sources = [s for s, m in zip(sources, mask) if m]
            per_fold.append(largest_threshold_keeping(labels[mask], probs[mask], target_recall,
                                                      source_capped_weights(fold_sources, source_cap)))
    by_fold = min(per_fold) if per_fold else ceiling
    # The contract ships 4 decimals. Each candidate is an illustration's own score, so rounding up would
    # hide that image (0.076996 -> 0.077 cost the binding fold its 98 %): round down, and report there.
    threshold = float(np.clip(np.floor(min(by_image, by_source, by_fold, ceiling) * 1e4) / 1e4, floor, ceiling))
    return {"threshold": threshold, "by_image": by_image, "by_source": by_source, "by_fold": by_fold,
            "per_fold": per_fold, "target_recall": target_recall, "ceiling": ceiling, "floor": floor,
            "source_cap": source_cap}


def summarise(labels, probs, sources, threshold, folds=None) -> dict:
    """Confusion matrix (rows true, columns predicted, LABELS order), accuracy, illustration
    recall/precision, the same figures with every source weighted equally, per-source figures, and given
    `folds` (each image's fold) the figures of each fold alone: their spread is what one unseen batch of
    sources can expect."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    predicted = decide(probs, threshold)
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(labels, predicted):
        confusion[t, p] += 1
    balanced = source_balanced_weights(sources)

    def figures(w):
        correct = (labels == predicted)
        true_ill, pred_ill = labels == ILLUSTRATION, predicted == ILLUSTRATION
        return {
            "accuracy": float((w * correct).sum() / w.sum()),
            "illustration_recall": float((w * (true_ill & pred_ill)).sum() / max((w * true_ill).sum(), 1e-12)),
            "illustration_precision": float((w * (true_ill & pred_ill)).sum() / max((w * pred_ill).sum(), 1e-12)),
            "class_recall": {LABELS[c]: float((w * ((labels == c) & correct)).sum()
                                              / max((w * (labels == c)).sum(), 1e-12)) for c in range(len(LABELS))},
        }

    per_source = {}
    for source in sorted(set(sources)):
        mask = np.array([s == source for s in sources])
        per_source[source] = {
            "images": int(mask.sum()),
            "accuracy": float((labels[mask] == predicted[mask]).mean()),
            "predicted": {LABELS[c]: int((predicted[mask] == c).sum()) for c in range(len(LABELS))},
        }
    per_fold = []
    if folds is not None:
        folds = np.asarray(folds)
        for k in sorted(set(folds.tolist())):
            weights = (folds == k).astype(float)
            per_fold.append({"fold": int(k), "images": int(weights.sum()),
                             **{key: value for key, value in figures(weights).items() if key != "class_recall"}})
    return {"threshold": float(threshold), "images": int(len(labels)), "sources": len(per_source),
            "confusion": confusion.tolist(), **figures(np.ones(len(labels))),
            "source_balanced": figures(balanced), "per_source": per_source,
            "sources_below_80": sum(1 for v in per_source.values() if v["accuracy"] < 0.8),
            **({"per_fold": per_fold} if per_fold else {})}


def precision_at_recall(labels, probs, target_recall=0.98) -> float:
    """Illustration precision at the largest threshold that keeps per-image recall >= target: how clean
    the kept set can be, whatever threshold ships."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    t = largest_threshold_keeping(labels, probs, target_recall)
    kept = probs[:, ILLUSTRATION] >= t
    return float(((labels == ILLUSTRATION) & kept).sum() / max(kept.sum(), 1))


def oof_figures(labels, probs, sources, target_recall=0.98, source_cap=40, folds=None) -> dict:
    """The figures a run reports from its out-of-fold probabilities: the threshold choice, the summary at
    that threshold and at 0.5. train.py writes them for a run, export_onnx.py for an ensemble's mean."""
    choice = choose_threshold(labels, probs, sources, target_recall, source_cap=source_cap, folds=folds)
    return {"threshold_choice": choice,
            "oof": summarise(labels, probs, sources, choice["threshold"], folds),
            "oof_at_0.5": summarise(labels, probs, sources, 0.5, folds),
            "precision_at_target_recall": precision_at_recall(labels, probs, target_recall)}
