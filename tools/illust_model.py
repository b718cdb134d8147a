"""The Illust Only network: nsfwjs's MobileNetV2 backbone (converted by convert_nsfwjs.py) with a new
three-class head (LABELS order: illustration, screenshot, photo).

Why a separate module: training, export and the tests must build the very same module. Its forward()
returns exactly the ONNX model's outputs: (probs [N,3] softmax, embedding [N,1280] pooled features).
Training uses `logits_from_cached(features, start)`, which runs only the trainable top of the backbone on
cached outputs of its frozen bottom part.
"""
from __future__ import annotations

import torch
from torch import nn

from convert_nsfwjs import (EMBEDDING_SIZE, NSFWJS_INPUT_MEAN, NSFWJS_INPUT_SCALE, NSFWJS_INPUT_STD,
                            MobileNetV2Backbone, build_nsfwjs_model)
from illust_data import LABELS

# nsfwjs was trained at 224 x 224; the network is fully convolutional, so smaller inputs work too.
DEFAULT_INPUT_SIZE = 224
RESIZE_MODES = ("squash", "letterbox")

# features[0] is the stem, features[1 + b] is block b (0..16), features[18] is Conv_1.
FEATURE_LAYERS = 19


class IllustOnlyNet(nn.Module):
    def __init__(self, backbone: MobileNetV2Backbone | None = None, dropout: float = 0.2):
        super().__init__()
        self.backbone = backbone if backbone is not None else MobileNetV2Backbone()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(EMBEDDING_SIZE, len(LABELS))

    def forward(self, x):
        embedding = self.backbone(x)
        probs = torch.softmax(self.classifier(self.dropout(embedding)), dim=1)
        return probs, embedding

    def logits_from_cached(self, features: torch.Tensor, start: int) -> torch.Tensor:
        """Logits from the output of backbone.features[:start] (start == FEATURE_LAYERS: pooled embedding)."""
        embedding = features if start >= FEATURE_LAYERS else self.backbone.forward_suffix(features, start)
        return self.classifier(self.dropout(embedding))


class IllustOnlyEnsemble(nn.Module):
    """Several IllustOnlyNets fine-tuned from the same frozen bottom (runs that differ only in
    --init-seed), exported as one network: the shared frozen layers run once, each member's fine-tuned top
    and head run on their output, and the outputs are the members' mean probabilities and mean pooled
    embedding. Same inputs and outputs as one IllustOnlyNet, so nothing downstream changes."""

    def __init__(self, members: list[IllustOnlyNet], start: int):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        frozen = [m.backbone.features[:start].state_dict() for m in members]
        for other in frozen[1:]:
            if frozen[0].keys() != other.keys() or not all(torch.equal(frozen[0][k], other[k]) for k in frozen[0]):
                raise ValueError(f"ensemble members differ below layer {start}: they must share the frozen layers")
        self.shared = members[0].backbone.features[:start]
        self.tops = nn.ModuleList(m.backbone.features[start:] for m in members)
        self.heads = nn.ModuleList(m.classifier for m in members)

    def forward(self, x):
        shared = self.shared(x)
        embeddings = [top(shared).mean(dim=(2, 3)) for top in self.tops]
        probs = [torch.softmax(head(e), dim=1) for head, e in zip(self.heads, embeddings)]
        return torch.stack(probs).mean(0), torch.stack(embeddings).mean(0)


def trainable_start(trainable_layers: int) -> int:
    """Index into backbone.features of the first trainable layer when the top `trainable_layers` train."""
    if not 0 <= trainable_layers <= FEATURE_LAYERS:
        raise ValueError(f"trainable layers must be within 0..{FEATURE_LAYERS}")
    return FEATURE_LAYERS - trainable_layers


def new_model_from_nsfwjs(dropout: float = 0.2) -> IllustOnlyNet:
    """A fresh IllustOnlyNet whose backbone holds nsfwjs's weights (the nsfwjs head is dropped)."""
    return IllustOnlyNet(build_nsfwjs_model().backbone, dropout)


def base_contract(input_size: int = DEFAULT_INPUT_SIZE, resize: str = "squash") -> dict:
    """Everything in contract.json that follows from the network and its training preprocessing (not
    the run's figures). Training builds its pixels from this very dict, so export ships what was trained."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}")
    return {
        "name": "illust-only",
        "version": "0.0.0-dev",
        "labels": list(LABELS),
        "model_file": "illust-only.onnx",
        "input": {"name": "input", "width": input_size, "height": input_size, "channels": 3, "layout": "NCHW", "color": "RGB"},
        "outputs": {"probs": "probs", "embedding": "embedding"},
        "preprocess": {
            "resize": resize,
            "filter": "box",
            "pad_color": [0, 0, 0],
            "alpha_background": [255, 255, 255],
            "scale": NSFWJS_INPUT_SCALE,
            "mean": list(NSFWJS_INPUT_MEAN),
            "std": list(NSFWJS_INPUT_STD),
        },
    }


def run_preprocessing(run_args: dict) -> dict:
    """base_contract() keyword arguments from a run's args.json (runs before these options were squash 224)."""
    return {"input_size": int(run_args.get("input_size", DEFAULT_INPUT_SIZE)), "resize": run_args.get("resize", "squash")}
