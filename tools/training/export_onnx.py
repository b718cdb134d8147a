#!/usr/bin/python3
"""Export a trained Illust Only run to the files the product ships: model/illust-only.onnx,
model/contract.json, model/MODEL_CARD.md, plus model/folds.json and model/oof-predictions.tsv (held-out
sources per fold and every image's out-of-fold probabilities, so evaluations elsewhere stay honest).

Why a thin CLI over `export_onnx()`: tests call the library function on a temporary folder; the CLI
adds the contract and card. Every export is checked: onnx.checker, then onnxruntime-node (via
tools/onnx-reference.mjs) against PyTorch on real images.

Several run folders (runs that differ only in --init-seed, so they share folds and frozen layers) export
as one ensemble network (illust_model.IllustOnlyEnsemble): the threshold and every figure then come from
the members' averaged out-of-fold probabilities, which is exactly what the shipped network computes.

Example: /usr/bin/python3 tools/training/export_onnx.py --run-dir runs/full
         /usr/bin/python3 tools/training/export_onnx.py --run-dir runs/a runs/b
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import torch

import illust_data as data
from convert_nsfwjs import EMBEDDING_SIZE
from illust_data import LABELS
from illust_metrics import oof_figures, summarise
from illust_model import (DEFAULT_INPUT_SIZE, IllustOnlyEnsemble, IllustOnlyNet, base_contract, load_checkpoint, run_preprocessing,
                          trainable_start)

OPSET = 17
ONNX_REFERENCE_SCRIPT = data.REPO_ROOT / "tools" / "onnx-reference.mjs"
CARD_NOTES_PATH = data.REPO_ROOT / "model" / "model-card-notes.md"


def contract_json(contract: dict) -> str:
    """Indented JSON with short lists of numbers on one line, as people read and diff it."""
    text = json.dumps(contract, indent=2)
    flat_list = r'\[\s*(?:"[^"\n]*"|[-0-9.e]+)(?:,\s*(?:"[^"\n]*"|[-0-9.e]+))*\s*\]'
    return re.sub(flat_list, lambda m: json.dumps(json.loads(m.group(0))), text) + "\n"


def export_onnx(model: torch.nn.Module, path: Path, input_size: int = DEFAULT_INPUT_SIZE) -> onnx.ModelProto:
    """Writes `model` as ONNX (opset 17, dynamic batch): input `input` [N,3,S,S] -> `probs` [N,3],
    `embedding` [N,1280]; checks it with onnx.checker and returns the loaded proto."""
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, input_size, input_size)
    with torch.no_grad():
        torch.onnx.export(model, dummy, str(path), opset_version=OPSET, input_names=["input"],
                          output_names=["probs", "embedding"], do_constant_folding=True,
                          dynamic_axes={"input": {0: "N"}, "probs": {0: "N"}, "embedding": {0: "N"}})
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    if outputs != {"probs": ["N", len(LABELS)], "embedding": ["N", EMBEDDING_SIZE]}:
        raise ValueError(f"unexpected ONNX outputs {outputs}")
    return proto


def run_onnx_reference(*args: str) -> None:
    """Runs tools/onnx-reference.mjs (onnxruntime-node) with `args`; raises with its message if it fails."""
    result = subprocess.run(["node", str(ONNX_REFERENCE_SCRIPT), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"onnxruntime-node failed: {result.stderr.strip()[:800]}")


def onnx_reference_on_inputs(model_path: Path, inputs: np.ndarray, *flags: str) -> dict:
    """tools/onnx-reference.mjs's JSON answer for float32 inputs [N,3,H,W] (flags: e.g. "--ranges")."""
    with tempfile.TemporaryDirectory() as tmp:
        tensor, out = Path(tmp) / "input.f32", Path(tmp) / "out.json"
        tensor.write_bytes(np.ascontiguousarray(inputs, dtype="<f4").tobytes())
        run_onnx_reference("--model", str(model_path), "--input", str(tensor), "--dims", ",".join(map(str, inputs.shape)),
                           "--out", str(out), *flags)
        return json.loads(out.read_text())


def run_onnxruntime_node(model_path: Path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Runs the ONNX file in onnxruntime-node on float32 inputs [N,3,H,W]; returns outputs by name."""
    doc = onnx_reference_on_inputs(model_path, inputs)
    return {name: np.asarray(o["data"], np.float32).reshape(o["dims"]) for name, o in doc["outputs"].items()}


def verify_against_torch(model: torch.nn.Module, model_path: Path, inputs: np.ndarray) -> dict:
    """Max abs differences of probs and embedding between onnxruntime-node and PyTorch on `inputs`."""
    with torch.no_grad():
        probs, embedding = model.eval()(torch.from_numpy(inputs))
    ort_out = run_onnxruntime_node(model_path, inputs)
    return {"probs": float(np.abs(ort_out["probs"] - probs.numpy()).max()),
            "embedding": float(np.abs(ort_out["embedding"] - embedding.numpy()).max())}


def load_run_model(run_dir: Path) -> IllustOnlyNet:
    args = json.loads((run_dir / "args.json").read_text())
    return load_checkpoint(run_dir / "final.pt", float(args.get("dropout", 0.2)))


# Arguments that may differ between the members of one ensemble: they change neither folds nor preprocessing.
MEMBER_ONLY_ARGS = {"run_dir", "init_seed", "threads", "cache_dir"}
# Arguments added to train.py later, as runs written before them had them.
ARG_DEFAULTS = {"extra_data": [], "teacher": [], "distill_weight": 0.7, "epoch_choice": "best"}


def load_runs(run_dirs: list[Path]) -> tuple[dict, dict, dict, torch.nn.Module]:
    """(training args, summary, folds, network) of one run, or of several runs as one ensemble. Members
    must agree on every training argument but MEMBER_ONLY_ARGS and on their folds; the ensemble's summary
    is recomputed from their averaged out-of-fold probabilities (summary["oof_rows"] holds them)."""
    runs = [(json.loads((d / "args.json").read_text()), json.loads((d / "summary.json").read_text()),
             json.loads((d / "folds.json").read_text())) for d in run_dirs]
    if len(runs) == 1:
        args, summary, folds = runs[0]
        if "oof_extra" not in summary:  # the threshold and figures come from today's metrics code
            summary = {**summary, **oof_table_figures(run_dirs, args)}
        return args, summary, folds, load_run_model(run_dirs[0])
    args, _, folds = runs[0]
    for d, (a, summary, f) in zip(run_dirs, runs):
        differing = sorted(k for k in set(a) | set(args) if k not in MEMBER_ONLY_ARGS
                           and a.get(k, ARG_DEFAULTS.get(k)) != args.get(k, ARG_DEFAULTS.get(k)))
        if differing:
            raise SystemExit(f"export_onnx: {d} differs from {run_dirs[0]} in {', '.join(differing)}: "
                             "ensemble members may differ only in --init-seed")
        if f != folds:
            raise SystemExit(f"export_onnx: {d} has other folds than {run_dirs[0]}")
        if "oof_extra" in summary:
            raise SystemExit(f"export_onnx: {d} trained with --extra-data; ensembles take runs on --data alone")
    start = trainable_start(int(args["trainable_layers"]))
    network = IllustOnlyEnsemble([load_run_model(d) for d in run_dirs], start).eval()
    return args, ensemble_summary(run_dirs, [r[0] for r in runs], [r[1] for r in runs]), folds, network


def oof_table_figures(run_dirs: list[Path], args: dict) -> dict:
    """Figures recomputed from the runs' oof.tsv (the mean of their probabilities: same images, same folds),
    so every export reports with today's metrics code, fold spread included; "oof_rows" holds the table."""
    tables = []
    for d in run_dirs:
        with (d / "oof.tsv").open(newline="") as handle:
            tables.append(list(csv.DictReader(handle, delimiter="\t")))
    keys = [(r["source"], r["file"], r["label"], r["fold"]) for r in tables[0]]
    for d, table in zip(run_dirs[1:], tables[1:]):
        if [(r["source"], r["file"], r["label"], r["fold"]) for r in table] != keys:
            raise SystemExit(f"export_onnx: {d}/oof.tsv holds other images or folds than {run_dirs[0]}/oof.tsv")
    probs = np.mean([[[float(r[f"p_{l}"]) for l in LABELS] for r in table] for table in tables], axis=0)
    # Labels as the data and model/label-corrections.tsv give them today, not as oof.tsv recorded them when
    # the run trained: tools/evaluate.mjs and the model card's own notes judge with today's corrections, and
    # a correction made after training must change the figures (the run itself still trained on the old label).
    corrections = data.read_label_corrections()
    now = [corrections.get(k[1], k[0].split("/", 1)[0]) for k in keys]
    relabelled = [{"file": k[1], "source": k[0], "trained_as": k[2], "label": label}
                  for k, label in zip(keys, now) if label != k[2]]
    labels = np.array([LABELS.index(label) for label in now])
    sources = [k[0] for k in keys]
    folds = [int(k[3]) for k in keys]
    rows = [{**{k: v for k, v in r.items() if not k.startswith("p_")}, "label": label,
             **{f"p_{l}": f"{p:.6f}" for l, p in zip(LABELS, ps)}}
            for r, ps, label in zip(tables[0], probs, now)]
    return {**oof_figures(labels, probs, sources, float(args.get("target_recall", 0.98)), int(args.get("source_cap", 40)),
                          folds),
            "oof_rows": rows, "relabelled": relabelled}


def ensemble_summary(run_dirs: list[Path], member_args: list[dict], member_summaries: list[dict]) -> dict:
    """train.py's summary for the mean of several runs' out-of-fold probabilities (same images, same folds)."""
    return {**oof_table_figures(run_dirs, member_args[0]),
            # Members share --epoch-choice: load_runs refuses runs whose training arguments differ.
            "epoch_choice": member_summaries[0].get("epoch_choice", "best"),
            "kept_epochs": [s.get("kept_epochs") for s in member_summaries],
            "best_epochs": [s["best_epochs"] for s in member_summaries],
            "final_epochs": [s["final_epochs"] for s in member_summaries],
            "command": [s["command"] for s in member_summaries],
            "members": [{"run_dir": str(a["run_dir"]), "init_seed": a.get("init_seed"),
                         **{k: s["oof"][k] for k in ("threshold", "accuracy", "illustration_recall", "illustration_precision")}}
                        for a, s in zip(member_args, member_summaries)]}


def epoch_choice_text(summary: dict, args: dict) -> str:
    """Which epoch of each fold judged its held-out sources (runs before --epoch-choice chose the best)."""
    if int(args.get("swa_start", 0) or 0):
        return (f"Each fold is judged by the average of its weights over epochs {args['swa_start']}-{args['epochs']} "
                "(stochastic weight averaging), as the shipped model is.")
    if summary.get("epoch_choice", "best") == "last":
        return (f"Each fold is judged by its last epoch ({summary['kept_epochs']}), the schedule the shipped model "
                "trains, so nothing is chosen on the sources it is judged on.")
    return ("Each fold is judged by its epoch with the lowest loss on its own held-out sources (best epochs "
            f"{summary['best_epochs']}): that choice sees the sources it is judged on, so where it is not the "
            "last epoch the figures are a little optimistic.")


def write_oof(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def compact_metrics(summary: dict, args: dict) -> dict:
    o = summary["oof"]
    return {
        "validation": f"{args['folds']}-fold cross-validation over whole sources (grouped by repository owner); "
                      "out-of-fold predictions",
        "images": o["images"], "sources": o["sources"], "threshold": o["threshold"],
        "accuracy": round(o["accuracy"], 4),
        "illustration_recall": round(o["illustration_recall"], 4),
        "illustration_precision": round(o["illustration_precision"], 4),
        "source_balanced_accuracy": round(o["source_balanced"]["accuracy"], 4),
        "source_balanced_illustration_recall": round(o["source_balanced"]["illustration_recall"], 4),
        **({"worst_fold_illustration_recall": round(min(f["illustration_recall"] for f in o["per_fold"]), 4),
            "worst_fold_illustration_precision": round(min(f["illustration_precision"] for f in o["per_fold"]), 4)}
           if o.get("per_fold") else {}),
        "confusion": o["confusion"],
    }


def trainable_layer_names(count: int) -> str:
    """Keras names of the top `count` of the backbone's 19 layers (stem, block 0..16, Conv_1)."""
    names = ["Conv1 (stem)"] + [f"block {b}" for b in range(17)] + ["Conv_1"]
    return ", ".join(names[len(names) - count:]) if count else "no backbone layer"


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def input_description(contract: dict) -> str:
    size = f"{contract['input']['width']}x{contract['input']['height']}"
    if contract["preprocess"]["resize"] == "letterbox":
        return (f"fit the frame inside {size} keeping its aspect ratio and pad the rest with "
                f"rgb{tuple(contract['preprocess']['pad_color'])} (so the network sees the frame's shape)")
    return f"resize the whole frame to {size} (aspect not kept)"


def fold_spread_lines(o: dict) -> list[str]:
    """Each fold alone at the shipped threshold: the spread one batch of unseen sources can expect."""
    if not o.get("per_fold"):
        return []
    lines = ["### Each fold alone (its held-out sources, at the shipped threshold)",
             "| fold | images | accuracy | illustration recall | illustration precision |", "|---|---|---|---|---|"]
    for f in o["per_fold"]:
        lines.append(f"| {f['fold']} | {f['images']} | {pct(f['accuracy'])} | {pct(f['illustration_recall'])} | "
                     f"{pct(f['illustration_precision'])} |")
    spread = {key: [f[key] for f in o["per_fold"]] for key in ("accuracy", "illustration_recall", "illustration_precision")}
    lines += ["", "Spread across folds: " + "; ".join(f"{key.replace('_', ' ')} {pct(min(v))} – {pct(max(v))}"
                                                     for key, v in spread.items()) + "."]
    return lines + [""]


def target_lines(summary: dict) -> list[str]:
    """The issue's targets against the out-of-fold figures, met or not, per image and source-balanced."""
    o, sb = summary["oof"], summary["oof"]["source_balanced"]
    p98 = summary.get("precision_at_target_recall")
    worst = min(o["per_source"].items(), key=lambda kv: kv[1]["accuracy"])
    rows = [("illustration recall >= 98 %", o["illustration_recall"] >= 0.98 and sb["illustration_recall"] >= 0.98,
             f"{pct(o['illustration_recall'])} per image, {pct(sb['illustration_recall'])} source-balanced"),
            ("illustration precision >= 95 % (at that recall)", o["illustration_precision"] >= 0.95 and sb["illustration_precision"] >= 0.95,
             f"{pct(o['illustration_precision'])} per image, {pct(sb['illustration_precision'])} source-balanced"
             + (f"; {pct(p98)} at exactly 98 % per-image recall" if p98 is not None else "")),
            ("3-class accuracy >= 95 %", o["accuracy"] >= 0.95 and sb["accuracy"] >= 0.95,
             f"{pct(o['accuracy'])} per image, {pct(sb['accuracy'])} source-balanced"),
            ("no source below 80 % accuracy", o.get("sources_below_80", 0) == 0,
             f"{o.get('sources_below_80', 0)} of {o['sources']} below; worst {worst[0]} {pct(worst[1]['accuracy'])}")]
    lines = ["### Targets (out of fold, at the shipped threshold)", "| target | met | figures |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if met else '**no**'} | {figures} |" for name, met, figures in rows]
    return lines + [""]


def gathering_lines(summary: dict) -> list[str]:
    """The same figures for the sources of each gathering (the first data set and the kinds added later)."""
    parts = summary.get("by_gathering") or {}
    if len(parts) < 2:
        return []
    lines = ["### Old and new sources apart (out of fold, at the shipped threshold)",
             "| sources gathered | images / sources | accuracy | illustration recall / precision | "
             "source-balanced accuracy | sources below 80 % |", "|---|---|---|---|---|---|"]
    for when, g in sorted(parts.items()):
        lines.append(f"| {when} | {g['images']} / {g['sources']} | {pct(g['accuracy'])} | "
                     f"{pct(g['illustration_recall'])} / {pct(g['illustration_precision'])} | "
                     f"{pct(g['source_balanced']['accuracy'])} | {g['sources_below_80']} |")
    return lines + [""]


def by_gathering(rows: list[dict], data_dir: Path, threshold: float) -> dict:
    """summarise() of the out-of-fold rows of each gathering in the data README (see source_gathering)."""
    gathered = data.source_gathering(data_dir)
    parts = {}
    for when in sorted(set(gathered.values())):
        part = [r for r in rows if gathered.get(r["source"]) == when]
        if part:
            parts[when] = summarise(np.array([LABELS.index(r["label"]) for r in part]),
                                    np.array([[float(r[f"p_{l}"]) for l in LABELS] for r in part]),
                                    [r["source"] for r in part], threshold)
    return parts


def extra_data_section(summary: dict) -> list[str]:
    """Out-of-fold figures on the --extra-data sources (they train with the rest; their folds are dealt apart)."""
    e = summary.get("oof_extra")
    if not e:
        return []
    lines = [
        "", "### Extra training data (out of fold)",
        f"Training also used {e['images']} images from {e['sources']} more sources ({', '.join(summary['extra_data'])}; "
        "`tools/training/train.py --extra-data`, e.g. the Debian set of docs/debian-data.md). Their repository groups "
        "are dealt to the same number of folds on their own, so the figures above stay on the same images and "
        "folds as runs without them, and each extra source is also judged out of fold:", "",
        "| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|" + "---|" * len(LABELS),
    ]
    for label, row in zip(LABELS, e["confusion"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", f"Accuracy {pct(e['accuracy'])}, illustration recall {pct(e['illustration_recall'])}, "
                  f"precision {pct(e['illustration_precision'])} at t = {e['threshold']:.3f}.", "",
              "| source | images | accuracy | predicted illustration / screenshot / photo |", "|---|---|---|---|"]
    for source, s in sorted(e["per_source"].items(), key=lambda kv: (kv[1]["accuracy"], kv[0])):
        p = s["predicted"]
        lines.append(f"| {source} | {s['images']} | {pct(s['accuracy'])} | {p['illustration']} / {p['screenshot']} / {p['photo']} |")
    return lines


def relabelled_text(summary: dict) -> str:
    """Labels corrected since the run trained (export_onnx judges with today's, see oof_table_figures)."""
    changed = summary.get("relabelled") or []
    if not changed:
        return ""
    return (f" {len(changed)} of them came after this model trained ("
            + ", ".join(f"{c['source']}/{c['file']}: {c['trained_as']} → {c['label']}" for c in changed)
            + "): every figure below uses the corrected labels, while the shipped weights learnt the old ones, so "
            "the Retrain command (which applies every correction) trains on other labels and gives other weights.")


def pinned_folds(command: str) -> str:
    """A train.py command that holds out the sources model/folds.json lists (written beside the model by this
    export), whatever `--folds-from` it had: without it, train.py deals folds by class counts, which any later
    label correction changes, so the command would re-deal sources and not reproduce the card's figures."""
    if "train.py" not in command:
        return command
    words = command.split()
    kept = [w for i, w in enumerate(words)
            if not (w == "--folds-from" or w.startswith("--folds-from=") or (i and words[i - 1] == "--folds-from"))]
    return " ".join(kept + ["--folds-from", "model"])


def model_card(summary: dict, args: dict, contract: dict, folds: dict, parity: dict, onnx_bytes: int) -> str:
    o, o05, choice = summary["oof"], summary["oof_at_0.5"], summary["threshold_choice"]
    t = o["threshold"]
    members = summary.get("members", [])
    commands = summary["command"] if isinstance(summary["command"], list) else [summary["command"]]
    run_dirs = [m["run_dir"] for m in members] or [str(args["run_dir"])]
    lines = [
        "# Model card: Illust Only classifier", "",
        "<!-- Written by tools/training/export_onnx.py from the training run; edit model/model-card-notes.md for the prose. -->", "",
        f"- **Version** `{contract['version']}` · file `model/{contract['model_file']}` ({onnx_bytes / 1e6:.1f} MB, "
        f"ONNX opset {OPSET}, dynamic batch)",
        "- **Task**: tell drawn **illustrations** from **screenshots** and **photos** (labels in this order: "
        f"`{', '.join(LABELS)}`); outputs `probs` [N,3] softmax and `embedding` [N,1280].",
        "- **Network**: nsfwjs 4.4.0's MobileNetV2 (Keras, 224x224, pixels/255) converted exactly to PyTorch "
        "(tools/training/convert_nsfwjs.py, test: tests/python/test_convert_nsfwjs.py), nsfwjs's 5-class head replaced "
        f"by dropout {args['dropout']} + Linear(1280, 3). Fine-tuned: "
        + ("every layer (the whole network, stem included) and the new head; BatchNorm statistics stay as nsfwjs "
           "measured them." if int(args["trainable_layers"]) >= 19 else
           f"{trainable_layer_names(int(args['trainable_layers']))} and the new head; everything below stays as nsfwjs "
           "trained it (BatchNorm statistics included).")
        + (f" **Ensemble of {len(members)} such fine-tunings** (same data, folds and settings; initialisation, "
           "sampling order and dropout differ by `--init-seed`): the frozen layers run once, each member's "
           "fine-tuned top and head run on them, and `probs` / `embedding` are the members' means." if members else ""),
        "- **Input**: decode, EXIF orientation, transparency over white, RGB, " + input_description(contract) + " "
        "with box filtering (PIL `Image.BOX`), value = pixel/255 (no mean/std). All of it is in `model/contract.json`.",
        "",
        "## Data",
        f"{o['images']} images from {o['sources']} sources (one folder per source, see the data folder's README.md "
        "and manifest.tsv): anime/manga-style fan art, original and official character art, covers and key visuals, "
        "watercolour, oil, gouache and digital paintings, sketches, comics and manga pages; screens of mobile, console, "
        "PC and retro games, launchers, phone apps, web pages and desktops; camera photos of food, people, streets, "
        "buildings, vehicles, pets, hardware and figures. Label corrections: "
        "`model/label-corrections.tsv` (applied by the tools)." + relabelled_text(summary),
        "",
        "## Validation: by source, k-fold",
        f"Sources whose repositories share an owner form one group; groups are dealt to {args['folds']} folds stratified by class "
        f"(seed {args['seed']}; `model/folds.json` lists each fold's held-out sources). For each fold a model is "
        "trained on the other folds and predicts the held-out sources, so every image below is judged by a "
        "model that never saw its source (`model/oof-predictions.tsv`). " + epoch_choice_text(summary, args) +
        f" The shipped model is trained on all sources for {summary['final_epochs']} epochs. Training weighs each source as at most {args['source_cap']} images and "
        "balances classes."
        + (" For the ensemble, every image's out-of-fold probabilities are the mean of its members' (each "
           "member's fold model never saw the source), and the threshold and figures below come from that mean." if members else ""),
        "",
        f"### Out-of-fold results at the shipped threshold t = {t:.4g}",
        "Decision: illustration when p(illustration) >= t, else the larger of screenshot/photo.", "",
        "| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|" + "---|" * len(LABELS),
    ]
    for label, row in zip(LABELS, o["confusion"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    sb = o["source_balanced"]
    lines += [
        "",
        "| figure | per image | every source weighted equally | at t = 0.5 (per image) |", "|---|---|---|---|",
        f"| 3-class accuracy | {pct(o['accuracy'])} | {pct(sb['accuracy'])} | {pct(o05['accuracy'])} |",
        f"| illustration recall | {pct(o['illustration_recall'])} | {pct(sb['illustration_recall'])} | {pct(o05['illustration_recall'])} |",
        f"| illustration precision | {pct(o['illustration_precision'])} | {pct(sb['illustration_precision'])} | {pct(o05['illustration_precision'])} |",
    ]
    for label in LABELS[1:]:
        lines.append(f"| {label} recall | {pct(o['class_recall'][label])} | {pct(sb['class_recall'][label])} | "
                     f"{pct(o05['class_recall'][label])} |")
    lines += [
        "",
        "Targets (held-out sources): illustration recall >= 98 % at precision >= 95 %, accuracy >= 95 %. "
        "nsfwjs zero-shot (Drawing/Hentai as illustration), as measured in the issue: recall 88 %, precision 58 %.",
        "",
        "### Threshold choice",
        f"`decision.hide_below` = {t:.4g}: the strictest threshold at which out-of-fold illustration recall stays "
        f">= {choice['target_recall']:.0%} per image (largest such t: {choice['by_image']:.3f}), with every "
        f"source counted as at most {choice.get('source_cap', 40)} images ({choice['by_source']:.3f})"
        + (f", and in every fold alone, sources capped the same way (worst fold: {choice['by_fold']:.3f}; per fold "
           f"{', '.join(f'{v:.3f}' for v in choice['per_fold'])})" if choice.get("per_fold") else "")
        + f", rounded down to 4 decimals, within [{choice.get('floor', 0.02)}, {choice['ceiling']}] (an unseen source may score lower than ours: "
        "never hide an illustration). Each fold is a batch of sources its model never saw, so the worst fold is "
        "what a user meeting new artists and games should expect; the pooled figures alone were optimistic "
        "for unseen sources.",
        "",
        *fold_spread_lines(o),
        *target_lines(summary),
        *gathering_lines(summary),
        "### Per source (out of fold)",
        "| source | images | accuracy | predicted illustration / screenshot / photo |", "|---|---|---|---|",
    ]
    for source, s in sorted(o["per_source"].items(), key=lambda kv: (kv[1]["accuracy"], kv[0])):
        p = s["predicted"]
        lines.append(f"| {source} | {s['images']} | {pct(s['accuracy'])} | {p['illustration']} / {p['screenshot']} / {p['photo']} |")
    if members:
        lines += ["", "### Ensemble members alone (out of fold, each at its own threshold)",
                  "| run | init seed | threshold | accuracy | illustration recall | illustration precision |", "|---|---|---|---|---|---|"]
        for m in members:
            lines.append(f"| {Path(m['run_dir']).name} | {m['init_seed']} | {m['threshold']:.3f} | {pct(m['accuracy'])} | "
                         f"{pct(m['illustration_recall'])} | {pct(m['illustration_precision'])} |")
    lines += extra_data_section(summary)
    lines += ["", "## Folds (held-out sources)"]
    for k, held in enumerate(folds["held_out"]):
        lines.append(f"- fold {k}: {', '.join(held)}")
    lines += [
        "",
        "## Export checks",
        f"onnx.checker passes; onnxruntime-node vs PyTorch on real images: max |diff| probs {parity['probs']:.2e}, "
        f"embedding {parity['embedding']:.2e} (tests/python/test_export_onnx.py repeats this).",
        "",
    ]
    if CARD_NOTES_PATH.is_file():
        lines += [CARD_NOTES_PATH.read_text().strip(), ""]
    lines += [
        "## Retrain",
        "```",
        "bash tools/setup.sh   # Debian torch/onnx + npm packages",
        *[f"# --extra-data {folder}: e.g. /usr/bin/python3 tools/training/gather_debian_images.py --out {folder}   # docs/debian-data.md"
          for folder in summary.get("extra_data", [])],
        *(pinned_folds(command) for command in commands),
        f"/usr/bin/python3 tools/training/export_onnx.py --run-dir {' '.join(run_dirs)}",
        "```",
        "The data folder is `--data`, default `$ILLUST_ONLY_DATA` or `../shared/data`. Training runs on CPU "
        "threads (`--threads`); the frozen-feature cache goes to runs/cache (git-ignored) and is reused by later "
        "runs with the same images, views, seed and trainable layers. A run is deterministic for its seed up to "
        "floating-point threading effects.",
        "",
    ]
    return "\n".join(lines)


def same_weights_version(previous_contract: Path, digest: str) -> str | None:
    """The version already shipped when it names these very ONNX bytes (re-exporting for the model card's
    prose must not make an unchanged model look new), else None."""
    try:
        version = json.loads(previous_contract.read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) and version.endswith(f"-{digest[:8]}") else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run-dir", type=Path, nargs="+", required=True,
                        help="training run folder written by tools/training/train.py; several (differing only in --init-seed) export as one ensemble")
    parser.add_argument("--out-dir", type=Path, default=data.REPO_ROOT / "model", help="where the shipped files go")
    parser.add_argument("--data", type=Path, default=data.default_data_dir(), help="data folder (real images for the parity check)")
    parser.add_argument("--check-images", type=int, default=8, help="real images for the onnxruntime-node vs PyTorch check")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    run_args, summary, folds, model = load_runs(args.run_dir)
    onnx_path = args.out_dir / "illust-only.onnx"
    contract = base_contract(**run_preprocessing(run_args))
    export_onnx(model, onnx_path, contract["input"]["width"])

    samples = data.list_samples(args.data)
    picks = [samples[i] for i in np.linspace(0, len(samples) - 1, args.check_images).astype(int)]
    inputs = np.stack([data.eval_tensor(s.path, contract) for s in picks])
    parity = verify_against_torch(model, onnx_path, inputs)
    if parity["probs"] > 1e-4 or parity["embedding"] > 1e-3:
        raise ValueError(f"onnxruntime-node disagrees with PyTorch: {parity}")

    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    t = summary["oof"]["threshold"]
    contract["version"] = same_weights_version(args.out_dir / "contract.json", digest) or f"{time.strftime('%Y.%m.%d')}-{digest[:8]}"
    contract["decision"] = {"positive_label": "illustration", "hide_below": round(t, 4),
                            "hide_below_min": round(min(0.02, t), 4), "hide_below_max": round(max(0.95, t), 4)}
    contract["metrics"] = compact_metrics(summary, run_args)
    (args.out_dir / "contract.json").write_text(contract_json(contract))
    if "oof_rows" in summary:
        summary["by_gathering"] = by_gathering(summary["oof_rows"], args.data, t)
        write_oof(args.out_dir / "oof-predictions.tsv", summary.pop("oof_rows"))
    else:
        shutil.copyfile(args.run_dir[0] / "oof.tsv", args.out_dir / "oof-predictions.tsv")
    (args.out_dir / "folds.json").write_text(json.dumps(folds, indent=2) + "\n")
    card = model_card(summary, run_args, contract, folds, parity, onnx_path.stat().st_size)
    (args.out_dir / "MODEL_CARD.md").write_text(card)
    print(f"export_onnx: {onnx_path} ({contract['version']}), hide_below {t:.4g}, parity {parity}")


if __name__ == "__main__":
    main()
