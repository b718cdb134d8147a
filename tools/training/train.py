#!/usr/bin/python3
"""Fine-tune nsfwjs's MobileNetV2 into the three-class Illust Only classifier, validated by source.

Why this shape: we have 2 CPU cores, so the frozen bottom of the backbone runs once per image and view
(a clean view plus a few augmented ones) and its outputs are cached; only the top `--trainable-layers`
layers of the backbone and a new 3-class head train on that cache. Validation is k-fold over whole
sources (grouped by repository owner, stratified by class): every image gets an out-of-fold prediction from a
model that never saw its source, and those predictions choose the threshold and give the model card's
figures. A final model then trains on all sources for the folds' schedule (all epochs; with
--epoch-choice best, the median best epoch count).

Outputs (run directory): args.json (resolved arguments), folds.json, metrics.jsonl (per fold and epoch),
fold<k>.pt (fold k's model at the epoch --epoch-choice keeps), oof.tsv (out-of-fold probabilities),
oof-best-epoch.tsv (those of each fold's lowest-validation-loss epoch), final.pt (the model to export),
summary.json. Export with tools/training/export_onnx.py --run-dir RUN.

Example: /usr/bin/python3 tools/training/train.py --data ../shared/data --run-dir runs/full
"""
from __future__ import annotations

import argparse
import copy
import csv
import ctypes
import hashlib
import json
import random
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import illust_data as data
from illust_data import LABELS
from illust_metrics import oof_figures, summarise
from illust_model import (DEFAULT_INPUT_SIZE, FEATURE_LAYERS, RESIZE_MODES, IllustOnlyNet, base_contract,
                          load_checkpoint, new_model_from_nsfwjs, prune_hidden_channels, trainable_start)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=data.default_data_dir(), help="data folder (<class>/<source>/images)")
    p.add_argument("--extra-data", type=Path, nargs="*", default=[],
                   help="more data folders in the same layout (e.g. tools/training/gather_debian_images.py's): their sources "
                        "are split into folds on their own, so --data's folds and figures stay comparable between runs")
    p.add_argument("--run-dir", type=Path, default=None, help="output folder (default runs/<date-time>)")
    p.add_argument("--cache-dir", type=Path, default=data.REPO_ROOT / "runs" / "cache", help="frozen-feature cache folder")
    p.add_argument("--resize", choices=RESIZE_MODES, default="squash",
                   help="how a frame becomes the square input: squash (whole frame, aspect lost) or letterbox (aspect kept, padded)")
    p.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE, help="input width and height in pixels")
    p.add_argument("--seed", type=int, default=0, help="seed for folds, views, sampling and initialisation")
    p.add_argument("--init-seed", type=int, default=None,
                   help="seed for initialisation, sampling order and dropout only (default: --seed): runs that differ "
                        "only in it share folds and cached views, so their out-of-fold predictions can be averaged "
                        "into an ensemble (tools/training/export_onnx.py --run-dir A B)")
    p.add_argument("--folds", type=int, default=5, help="k of the k-fold split over source groups")
    p.add_argument("--folds-from", type=Path, default=None,
                   help="hold out the sources a finished run held out (its folds.json), so runs stay paired when "
                        "label corrections change the class counts the folds are dealt by; every source must be in it")
    p.add_argument("--views", type=int, default=4, help="augmented views cached per image (plus one clean view)")
    p.add_argument("--trainable-layers", type=int, default=4,
                   help=f"top backbone layers fine-tuned (of {FEATURE_LAYERS}: 4 = blocks 14-16 + Conv_1; 0 = head only)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default 10; a --dry-run 1)")
    p.add_argument("--epoch-size", type=int, default=0,
                   help="images drawn (weighted, with replacement) per epoch; 0 = the number of training images")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the new head (cosine decay)")
    p.add_argument("--backbone-lr", type=float, default=2e-4, help="peak learning rate of the trainable backbone layers")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--l2-sp", type=float, default=0.0,
                   help="L2-SP: each step pulls the fine-tuned backbone weights back toward nsfwjs's (by backbone lr x "
                        "this x their distance, in place of weight decay toward zero), so fine-tuning keeps more of "
                        "what the pretrained network knows; 0 = off")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing")
    p.add_argument("--illustration-weight", type=float, default=1.0,
                   help="weight of the illustration class in the training loss (> 1: a missed illustration costs more "
                        "than a missed screenshot or photo, as it does for users)")
    p.add_argument("--augmentation", choices=data.AUGMENTATIONS, default="standard",
                   help="training views: standard, strong-colour (some grey views, a wider saturation range), or titles "
                        "(big title text over 30 %% of the views, every class alike)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout before the new head")
    p.add_argument("--source-cap", type=int, default=40, help="a source weighs as at most this many images")
    p.add_argument("--source-dro", type=float, default=0.0,
                   help="each epoch, draw a training source exp(ETA x its recent training loss above its class's "
                        "mean) times as often (x1/4..x4; classes stay balanced): group DRO over sources, aimed at "
                        "the worst ones. 0: off")
    p.add_argument("--teacher", type=Path, nargs="*", default=[],
                   help="distil from these finished runs (same data, seed, views and trainable layers, so the same "
                        "folds): each fold learns from the mean of the teachers' models of that fold, the final model "
                        "from their final models; one network then carries most of an ensemble's gain")
    p.add_argument("--distill-weight", type=float, default=0.7,
                   help="with --teacher: share of the target taken from the teachers' probabilities (the rest is the label)")
    p.add_argument("--swa-start", type=int, default=0,
                   help="average the weights of every epoch from this one on (stochastic weight averaging) and keep "
                        "that average instead of the epoch with the lowest validation loss; 0 = off")
    p.add_argument("--validate", choices=["each-epoch", "last"], default="each-epoch",
                   help="judge the held-out fold after every epoch (the learning curve in metrics.jsonl, and the "
                        "best epoch for oof-best-epoch.tsv) or only after the last (about a third less time at 256 px; "
                        "training and the out-of-fold figures are the same)")
    p.add_argument("--epoch-choice", choices=["last", "best"], default="last",
                   help="which epoch of each fold judges its held-out sources: last (the schedule the final model "
                        "trains; nothing is chosen on the held-out fold) or best (the lowest held-out loss: optimistic, "
                        "the choice sees the sources it is judged on; runs before 2026-12-05 used it). Either way "
                        "oof-best-epoch.tsv keeps the best epoch's predictions for comparison with those runs")
    p.add_argument("--prune-keep", type=float, default=1.0,
                   help="keep this fraction of the hidden channels of the fine-tuned inverted residual blocks (those "
                        "used most on the training images): a narrower, faster network; 1 = nsfwjs's widths")
    p.add_argument("--source-fraction", type=float, default=1.0,
                   help="learning curve: each fold trains on this fraction of its training repository groups (drawn "
                        "per class, seeded by the fold); validation and the final model are unchanged. Shows whether "
                        "held-out figures still grow with more sources")
    p.add_argument("--source-draw", default="",
                   help="with --source-fraction: a label that picks another draw of the same fraction")
    p.add_argument("--target-recall", type=float, default=0.98, help="illustration recall the threshold must keep")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine is shared: keep low)")
    p.add_argument("--channels-last", action="store_true",
                   help="NHWC memory layout while training: about 1.4x faster convolutions on CPU when the lower, "
                        "high-resolution blocks train too; the same arithmetic up to summation order")
    p.add_argument("--only-fold", type=int, default=None,
                   help="train and judge this one fold only (a quick paired comparison): no out-of-fold set, no final model")
    p.add_argument("--dry-run", action="store_true", help="tiny smoke run: 2 images of 2 sources per class, 2 folds, 1 epoch unless --epochs")
    args = p.parse_args(argv)
    if args.dry_run:
        args.folds, args.views, args.epochs, args.batch_size = 2, 1, args.epochs or 1, 8
    args.epochs = args.epochs or 10
    if args.swa_start < 0 or args.swa_start > args.epochs:
        p.error("--swa-start must be within 0..--epochs")
    if not 0 < args.source_fraction <= 1:
        p.error("--source-fraction must be within (0, 1]")
    if not 0 < args.prune_keep <= 1:
        p.error("--prune-keep must be within (0, 1]")
    if args.l2_sp < 0:
        p.error("--l2-sp must be 0 or more")
    if args.source_dro < 0:
        p.error("--source-dro must be 0 or more")
    if args.only_fold is not None and not 0 <= args.only_fold < args.folds:
        p.error(f"--only-fold must be within 0..{args.folds - 1} (--folds {args.folds})")
    if args.prune_keep < 1 and args.trainable_layers < 2:
        p.error("--prune-keep narrows fine-tuned blocks: it needs --trainable-layers 2 or more (block 16 + Conv_1)")
    if args.run_dir is None:
        args.run_dir = data.REPO_ROOT / "runs" / time.strftime("%Y%m%d-%H%M%S")
    return args


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def pick_dry_run_samples(samples):
    """2 images of 2 sources per class. Sources are taken from the class's own folder and images by their
    (corrected) label: a photo source with one image corrected to screenshot sorts before every
    screenshot source, and would otherwise fill the screenshot slots with photos."""
    picked = []
    for label, name in enumerate(LABELS):
        sources = sorted({s.source for s in samples if s.label == label and s.source.startswith(f"{name}/")})[:2]
        for source in sources:
            picked += [s for s in samples if s.source == source and s.label == label][:2]
    return picked


# ---- frozen-feature cache ------------------------------------------------------------------------

def view_pixels(sample, view: int, seed: int, contract: dict, augmentation: str = "standard") -> np.ndarray:
    """View 0: the exact evaluation preprocessing. View v > 0: an augmentation seeded by (seed, file, v)."""
    image = data.open_rgb(sample.path, contract["preprocess"]["alpha_background"])
    if view > 0:
        rng = random.Random(f"{seed}/{sample.source}/{sample.file}/{view}")
        image = data.augment(image, rng, augmentation)
    return data.resize_pixels(image, contract)


@torch.no_grad()
def cached_features(samples, model: IllustOnlyNet, start: int, views: int, seed: int, contract: dict,
                    cache_dir: Path, batch: int = 32, augmentation: str = "standard") -> np.ndarray:
    """float16 [views + 1, N, ...]: outputs of backbone.features[:start] (pooled embedding when start is
    FEATURE_LAYERS) for each view of each sample. Cached on disk, keyed by everything that shapes them."""
    key_text = json.dumps({"files": [f"{s.source}/{s.file}:{s.path.stat().st_size}" for s in samples],
                           "start": start, "views": views, "seed": seed, "pre": contract["preprocess"],
                           "input": contract["input"], "version": 1,
                           # only when not standard, so existing caches keep their keys
                           **({} if augmentation == "standard" else {"augmentation": augmentation})})
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    path = cache_dir / f"features-{key}.npy"
    if path.is_file():
        log(f"cache: reusing {path}")
        return np.load(path, mmap_mode="r")
    backbone = model.backbone.eval()
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp.npy")
    out = None
    started = time.time()
    for view in range(views + 1):
        for first in range(0, len(samples), batch):
            chunk = samples[first:first + batch]
            x = torch.from_numpy(data.pixels_to_tensor(np.stack([view_pixels(s, view, seed, contract, augmentation) for s in chunk]), contract))
            y = backbone(x) if start >= FEATURE_LAYERS else backbone.forward_prefix(x, start)
            if out is None:
                # Written straight to disk: a whole-network cache of many views (input pixels, 0.3 MB per
                # view of an image) is larger than this machine's memory.
                out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float16,
                                                shape=(views + 1, len(samples)) + tuple(y.shape[1:]))
            out[view, first:first + len(chunk)] = y.numpy().astype(np.float16)
        log(f"cache: view {view}/{views} done ({time.time() - started:.0f} s)")
    out.flush()
    del out
    partial.rename(path)
    return np.load(path, mmap_mode="r")


# ---- training ------------------------------------------------------------------------------------

def set_trainable(model: IllustOnlyNet, start: int):
    for i, layer in enumerate(model.backbone.features):
        for param in layer.parameters():
            param.requires_grad = i >= start


def train_mode(model: IllustOnlyNet):
    # BatchNorm keeps nsfwjs's running statistics: our batches are small and the data set is tiny.
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


@torch.no_grad()
def predict_cached(model, features, indices, start, view=0, batch=256,
                   layout=torch.contiguous_format) -> np.ndarray:
    """Probabilities [len(indices), 3] on cached view `view` (0: the clean evaluation view). `layout` is the
    model's memory format: feeding it another costs a conversion in every convolution."""
    model.eval()
    probs = []
    for first in range(0, len(indices), batch):
        x = torch.from_numpy(np.asarray(features[view, indices[first:first + batch]], dtype=np.float32))
        if x.dim() == 4:
            x = x.contiguous(memory_format=layout)
        probs.append(torch.softmax(model.logits_from_cached(x, start), dim=1).numpy())
    return np.concatenate(probs) if probs else np.zeros((0, len(LABELS)), np.float32)


def weighted_loss(probs, labels, weights) -> float:
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float((weights * -np.log(p)).sum() / weights.sum())


def teacher_probs(run_dirs, checkpoint: str, features, indices, start, dropout) -> np.ndarray:
    """float32 [views + 1, N, 3]: the mean of the teachers' `checkpoint` models' probabilities on every
    cached view of `indices` (other rows zero)."""
    out = np.zeros(features.shape[:2] + (len(LABELS),), dtype=np.float32)
    for run_dir in run_dirs:
        model = load_checkpoint(run_dir / checkpoint, dropout)
        for view in range(features.shape[0]):
            out[view, indices] += predict_cached(model, features, indices, start, view) / len(run_dirs)
    return out


def folds_of_run(run_dir: Path, samples, folds: int) -> np.ndarray:
    """Each sample's fold as held out by a finished run (--folds-from); refuses a run with other folds or sources."""
    held_out = json.loads((Path(run_dir) / "folds.json").read_text())["held_out"]
    if len(held_out) != folds:
        raise SystemExit(f"train: --folds-from {run_dir} has {len(held_out)} folds, not --folds {folds}")
    fold_of_source = {source: k for k, sources in enumerate(held_out) for source in sources}
    missing = sorted({s.source for s in samples} - fold_of_source.keys())
    if missing:
        raise SystemExit(f"train: --folds-from {run_dir} holds out no fold with {', '.join(missing[:5])}")
    return np.array([fold_of_source[s.source] for s in samples])


def check_teachers(args, folds_doc):
    """Teachers must have trained on the same cached views with the same folds, or distillation leaks."""
    same = ("data", "seed", "views", "trainable_layers", "input_size", "resize", "folds")
    for run_dir in args.teacher:
        teacher_args = json.loads((run_dir / "args.json").read_text())
        differing = [k for k in same if str(teacher_args.get(k)) != str(vars(args)[k])]
        if differing:
            raise SystemExit(f"train: teacher {run_dir} differs in {', '.join(differing)}")
        if json.loads((run_dir / "folds.json").read_text())["held_out"] != folds_doc["held_out"]:
            raise SystemExit(f"train: teacher {run_dir} has other folds")
        if json.loads((run_dir / "summary.json").read_text()).get("oof_extra"):
            raise SystemExit(f"train: teacher {run_dir} trained with --extra-data")


class WeightAverage:
    """Running mean of state_dicts (stochastic weight averaging along one run), kept in float64 and
    handed back in each tensor's own dtype."""

    def __init__(self):
        self.count, self._mean, self._dtypes = 0, None, None

    def add(self, state: dict):
        current = {k: v.detach().to(torch.float64, copy=True) for k, v in state.items()}
        self.count += 1
        if self._mean is None:
            self._mean, self._dtypes = current, {k: v.dtype for k, v in state.items()}
        else:
            for k, v in current.items():
                self._mean[k] += (v - self._mean[k]) / self.count

    def state(self) -> dict:
        if not self.count:
            raise ValueError("no weights were added")
        return {k: v.to(self._dtypes[k]) for k, v in self._mean.items()}


class SourceDro:
    """Group DRO over training sources, as a sampler: a source whose recent training loss is above its
    class's mean is drawn more often (exp(eta x the difference), clipped to x1/4..x4), then each class is
    renormalised so the classes stay balanced. Losses are per-image cross-entropy without smoothing,
    averaged per source over an epoch and smoothed across epochs (half old, half new)."""

    def __init__(self, samples, train_idx, eta: float):
        self.eta = eta
        names = sorted({samples[i].source for i in train_idx})
        number = {name: n for n, name in enumerate(names)}
        self.source_of = {int(i): number[samples[i].source] for i in train_idx}
        self.train_source = np.array([number[samples[i].source] for i in train_idx])
        self.train_label = np.array([samples[i].label for i in train_idx])
        self.source_label = np.zeros(len(names), dtype=int)
        self.source_label[self.train_source] = self.train_label
        self.loss = np.full(len(names), np.nan)
        self._sum, self._count = np.zeros(len(names)), np.zeros(len(names))
        self.spread = (1.0, 1.0)

    def observe(self, idx, losses):
        for i, value in zip(idx, losses):
            source = self.source_of[int(i)]
            self._sum[source] += value
            self._count[source] += 1

    def end_epoch(self):
        seen = self._count > 0
        mean = self._sum[seen] / self._count[seen]
        self.loss[seen] = np.where(np.isnan(self.loss[seen]), mean, 0.5 * self.loss[seen] + 0.5 * mean)
        self._sum[:], self._count[:] = 0, 0

    def weights(self, train_w: np.ndarray) -> np.ndarray:
        """train_w (capped, class-balanced) tilted toward the sources that are hardest within their class."""
        factor = np.ones(len(self.loss))
        for c in np.unique(self.source_label):
            known = (self.source_label == c) & ~np.isnan(self.loss)
            if known.any():
                factor[known] = np.clip(np.exp(self.eta * (self.loss[known] - self.loss[known].mean())), 0.25, 4.0)
        self.spread = (float(factor.min()), float(factor.max()))
        w = train_w * factor[self.train_source]
        for c in np.unique(self.train_label):  # keep each class's share of the draws
            in_class = self.train_label == c
            w[in_class] *= train_w[in_class].sum() / w[in_class].sum()
        return w


def fewer_training_groups(samples, train_idx, fraction: float, draw_key: str) -> np.ndarray:
    """train_idx restricted to `fraction` of its repository groups, drawn per class (at least one per
    class) from a generator seeded by `draw_key`: a learning curve over sources, not images."""
    rng = np.random.default_rng(zlib.crc32(draw_key.encode()))
    groups_by_class = {}
    for i in train_idx:
        groups_by_class.setdefault(samples[i].label, set()).add(samples[i].group)
    keep = set()
    for _, groups in sorted(groups_by_class.items()):
        groups = sorted(groups)
        keep |= set(rng.choice(groups, size=max(1, int(round(len(groups) * fraction))), replace=False).tolist())
    return np.array([i for i in train_idx if samples[i].group in keep], dtype=int)


def validation_record(samples, labels, val_idx, probs, val_w) -> dict:
    """Validation figures of one model for metrics.jsonl (loss on capped source weights; rest at t = 0.5)."""
    s = summarise(labels[val_idx], probs, [samples[i].source for i in val_idx], 0.5)
    return {"val_loss": weighted_loss(probs, labels[val_idx], val_w), "val_accuracy": s["accuracy"],
            "val_illustration_recall": s["illustration_recall"],
            "val_illustration_precision": s["illustration_precision"],
            "val_source_balanced_accuracy": s["source_balanced"]["accuracy"]}


def fit(args, samples, features, train_idx, val_idx, start, seed, tag, metrics_file, epochs, soft=None):
    """Trains a fresh model on train_idx; returns (kept state_dict, kept epoch, val probs of the kept one,
    (best epoch, val probs of the best)). Kept: the last epoch (--epoch-choice last, and always without
    validation), the lowest validation loss (best), or the weight average (--swa-start).
    soft: teachers' probabilities per view and image (teacher_probs), mixed into the targets."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = new_model_from_nsfwjs(args.dropout)
    if args.prune_keep < 1:
        # Channel use is measured on clean views of (a sample of) this fit's own training images.
        sample = np.sort(rng.choice(train_idx, size=min(256, len(train_idx)), replace=False))
        widths = prune_hidden_channels(model, start, args.prune_keep,
                                       torch.from_numpy(np.asarray(features[0, sample], dtype=np.float32)))
        log(f"{tag}: hidden widths of the fine-tuned blocks narrowed to {widths}")
    set_trainable(model, start)
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    labels = np.array([s.label for s in samples])
    train_w = data.sample_weights([samples[i] for i in train_idx], args.source_cap)
    val_w = data.sample_weights([samples[i] for i in val_idx], args.source_cap) if len(val_idx) else None
    head_params = list(model.classifier.parameters())
    backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([{"params": head_params, "lr": args.lr},
                                   {"params": backbone_params, "lr": args.backbone_lr,
                                    **({"weight_decay": 0.0} if args.l2_sp else {})}], weight_decay=args.weight_decay)
    anchors = [p.detach().clone() for p in backbone_params] if args.l2_sp else []
    epoch_size = args.epoch_size or len(train_idx)
    steps_per_epoch = max(1, int(np.ceil(epoch_size / args.batch_size)))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[args.lr, args.backbone_lr], total_steps=epochs * steps_per_epoch, pct_start=0.15)
    best = (float("inf"), None, 0, None)
    dro = SourceDro(samples, train_idx, args.source_dro) if args.source_dro else None
    class_weight = torch.tensor([args.illustration_weight if name == "illustration" else 1.0 for name in LABELS])
    # With averaging every fold reports its last epoch, so the final model also averages the same epochs.
    average = WeightAverage()
    for epoch in range(1, epochs + 1):
        started = time.time()
        train_mode(model)
        # Sampling proportional to the capped, class-balanced weights: big sources cannot dominate.
        draw_w = train_w if dro is None else dro.weights(train_w)
        order = rng.choice(train_idx, size=epoch_size, replace=True, p=draw_w / draw_w.sum())
        view_of = rng.integers(0, features.shape[0], size=len(order))
        total = 0.0
        for first in range(0, len(order), args.batch_size):
            idx, views = order[first:first + args.batch_size], view_of[first:first + args.batch_size]
            x = torch.from_numpy(np.stack([np.asarray(features[v, i], dtype=np.float32) for v, i in zip(views, idx)]))
            if x.dim() == 4:
                x = x.contiguous(memory_format=layout)
            y = torch.from_numpy(labels[idx])
            logits = model.logits_from_cached(x, start)
            if soft is None:
                loss = F.cross_entropy(logits, y, weight=class_weight, label_smoothing=args.label_smoothing)
            else:
                hard = F.one_hot(y, len(LABELS)).float() * (1 - args.label_smoothing) + args.label_smoothing / len(LABELS)
                target = args.distill_weight * torch.from_numpy(soft[views, idx]) + (1 - args.distill_weight) * hard
                loss = F.cross_entropy(logits, target, weight=class_weight)
            if dro is not None:
                dro.observe(idx, F.cross_entropy(logits.detach(), y, reduction="none").numpy())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if anchors:
                with torch.no_grad():  # decoupled, like AdamW's decay, but toward the pretrained weights
                    pull = optimiser.param_groups[1]["lr"] * args.l2_sp
                    for param, anchor in zip(backbone_params, anchors):
                        param.lerp_(anchor, min(1.0, pull))
            scheduler.step()
            total += float(loss) * len(idx)
        if dro is not None:
            dro.end_epoch()
        if args.swa_start and epoch >= args.swa_start:
            average.add(model.state_dict())
        record = {"run": tag, "epoch": epoch, "train_loss": total / len(order), "seconds": int(time.time() - started),
                  **({"source_draw_factors": dro.spread} if dro is not None else {})}
        probs = None
        if len(val_idx) and (args.validate == "each-epoch" or epoch == epochs):
            probs = predict_cached(model, features, val_idx, start, layout=layout)
            record.update(validation_record(samples, labels, val_idx, probs, val_w))
        if probs is not None and record["val_loss"] < best[0]:
            best = (record["val_loss"], copy.deepcopy(model.state_dict()) if args.epoch_choice == "best" else None,
                    epoch, probs)
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
        log(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    if average.count:
        # BatchNorm keeps nsfwjs's statistics (train_mode), so the averaged weights need no BN update.
        state = average.state()
        model.load_state_dict(state)
        probs = predict_cached(model, features, val_idx, start, layout=layout) if len(val_idx) else None
        record = {"run": tag, "average_of_epochs": [args.swa_start, epochs]}
        if probs is not None:
            record.update(validation_record(samples, labels, val_idx, probs, val_w))
        metrics_file.write(json.dumps(record) + "\n")
        log(f"{tag}: kept the average of epochs {args.swa_start}-{epochs}: " + json.dumps(record))
        return copy.deepcopy(state), epochs, probs, (best[2], best[3])
    if args.epoch_choice == "best" and len(val_idx):
        return best[1], best[2], best[3], (best[2], best[3])
    return copy.deepcopy(model.state_dict()), epochs, probs, (best[2], best[3])


def keep_freed_memory_in_heap() -> bool:
    """glibc maps every large block afresh and unmaps it when freed, so each training step's big activations
    (tens of MB at 224 px once the stem trains) fault in new zeroed pages: half a CPU step's time went to
    the kernel. Keeping freed memory in the heap for reuse halves a whole-network step on 2 cores (same
    numbers: where memory comes from changes no arithmetic). False where libc has no mallopt."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # no libc.so.6, or one without mallopt (musl)
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    return all(mallopt(option, ctypes.c_int(value)) == 1 for option, value in
               ((M_MMAP_THRESHOLD, 2**31 - 1), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 2**30)))


def main(argv=None):
    args = parse_args(argv)
    keep_freed_memory_in_heap()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    (args.run_dir / "args.json").write_text(json.dumps(vars(args), indent=2, default=str) + "\n")
    contract = base_contract(args.input_size, args.resize)  # export ships this same preprocessing
    samples = data.list_samples(args.data)
    extra = [s for folder in args.extra_data for s in data.list_samples(folder)]
    if args.dry_run:
        samples, extra = pick_dry_run_samples(samples), pick_dry_run_samples(extra) if extra else []
    clash = {s.source for s in samples} & {s.source for s in extra}
    if clash:
        raise SystemExit(f"train: --extra-data repeats sources of --data: {', '.join(sorted(clash)[:5])}")
    primary_count = len(samples)
    samples = samples + extra
    cache_dir = args.run_dir / "cache" if args.dry_run else args.cache_dir
    log(f"train: {len(samples)} images, {len({s.source for s in samples})} sources -> {args.run_dir}")

    start = trainable_start(args.trainable_layers)
    features = cached_features(samples, new_model_from_nsfwjs(), start, args.views, args.seed, contract, cache_dir,
                               augmentation=args.augmentation)

    # Folds are dealt for --data alone (as without extra data) and for the extra folders apart.
    if args.folds_from:
        fold_of = folds_of_run(args.folds_from, samples, args.folds)
    else:
        fold_of_group = {**data.source_folds(samples[:primary_count], args.folds, args.seed),
                         **(data.source_folds(extra, args.folds, args.seed) if extra else {})}
        fold_of = np.array([fold_of_group[s.group] for s in samples])
    folds_doc = {"seed": args.seed, "folds": args.folds, "unit": "repository group of sources",
                 "held_out": [sorted({s.source for s, f in zip(samples, fold_of) if f == k}) for k in range(args.folds)]}
    (args.run_dir / "folds.json").write_text(json.dumps(folds_doc, indent=2) + "\n")
    if args.teacher:
        if extra:
            raise SystemExit("train: --teacher takes runs on --data alone, without --extra-data")
        check_teachers(args, folds_doc)

    labels = np.array([s.label for s in samples])
    init_seed = args.seed if args.init_seed is None else args.init_seed
    oof = np.zeros((len(samples), len(LABELS)), dtype=np.float32)
    oof_best_epoch = np.zeros_like(oof)
    kept_epochs, best_epochs = [], []
    with (args.run_dir / "metrics.jsonl").open("w") as metrics_file:
        for k in (range(args.folds) if args.only_fold is None else [args.only_fold]):
            train_idx, val_idx = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
            if args.source_fraction < 1:  # a learning curve: the final model still trains on everything
                groups = len({samples[i].group for i in train_idx})
                train_idx = fewer_training_groups(samples, train_idx, args.source_fraction,
                                                  f"fold{k}/{args.source_fraction}{args.source_draw}")
                log(f"fold{k}: learning curve keeps {len({samples[i].group for i in train_idx})} of {groups} training groups")
            log(f"fold {k}: train {len(train_idx)}, validate {len(val_idx)} "
                f"({', '.join(LABELS[c] + ':' + str((labels[val_idx] == c).sum()) for c in range(len(LABELS)))})")
            soft = (teacher_probs(args.teacher, f"fold{k}.pt", features, train_idx, start, args.dropout)
                    if args.teacher else None)
            state, epoch, probs, (best_epoch, best_probs) = fit(
                args, samples, features, train_idx, val_idx, start, init_seed + k, f"fold{k}", metrics_file,
                args.epochs, soft)
            torch.save(state, args.run_dir / f"fold{k}.pt")
            oof[val_idx], oof_best_epoch[val_idx] = probs, best_probs
            kept_epochs.append(epoch)
            best_epochs.append(best_epoch)
        if args.only_fold is not None:
            log(f"fold {args.only_fold} only: stopping before the out-of-fold figures and the final model")
            return
        # The final model trains the folds' schedule: all epochs, or (--epoch-choice best) their median best.
        final_epochs = max(1, int(round(float(np.median(kept_epochs)))))
        log(f"final: epochs kept per fold {kept_epochs} (lowest held-out loss at {best_epochs}) "
            f"-> training on everything for {final_epochs}")
        everything = np.arange(len(samples))
        soft = teacher_probs(args.teacher, "final.pt", features, everything, start, args.dropout) if args.teacher else None
        state, _, _, _ = fit(args, samples, features, everything, np.array([], dtype=int), start,
                          init_seed + args.folds, "final", metrics_file, final_epochs, soft)
    torch.save(state, args.run_dir / "final.pt")

    for name, table in (("oof.tsv", oof), ("oof-best-epoch.tsv", oof_best_epoch)):
        with (args.run_dir / name).open("w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["file", "source", "group", "fold", "label"] + [f"p_{l}" for l in LABELS])
            for s, f, p in zip(samples, fold_of, table):
                writer.writerow([s.file, s.source, s.group, int(f), LABELS[s.label]] + [f"{v:.6f}" for v in p])
    sources = [s.source for s in samples]
    # Threshold and headline figures come from --data (the kind of images X serves), so runs with and
    # without extra data compare on the same images; the extra sources are reported at that threshold.
    main_part, extra_part = slice(0, primary_count), slice(primary_count, None)
    figures = oof_figures(labels[main_part], oof[main_part], sources[main_part], args.target_recall, args.source_cap,
                          fold_of[main_part])
    threshold = figures["threshold_choice"]["threshold"]
    summary = {**figures,
               **({"oof_extra": summarise(labels[extra_part], oof[extra_part], sources[extra_part], threshold),
                   "extra_data": [str(folder) for folder in args.extra_data]} if extra else {}),
               "epoch_choice": args.epoch_choice, "kept_epochs": kept_epochs, "best_epochs": best_epochs,
               "final_epochs": final_epochs, "command": "/usr/bin/python3 tools/training/train.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    (args.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    o = summary["oof"]
    log(f"out-of-fold at t={threshold:.3f}: accuracy {o['accuracy']:.4f}, illustration recall "
        f"{o['illustration_recall']:.4f}, precision {o['illustration_precision']:.4f}; confusion {o['confusion']}")
    if extra:
        e = summary["oof_extra"]
        log(f"out-of-fold on --extra-data: accuracy {e['accuracy']:.4f}, illustration recall "
            f"{e['illustration_recall']:.4f}, precision {e['illustration_precision']:.4f}; confusion {e['confusion']}")


if __name__ == "__main__":
    main()
