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
                            InvertedResidual, KerasConvBN, MobileNetV2Backbone, build_nsfwjs_model)
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


# ---- narrower fine-tuned blocks (train.py --prune-keep) -------------------------------------------
# The inverted residual blocks' expanded ("hidden") channels cost most of their arithmetic; the blocks
# that fine-tune can keep only their most used channels. Their input and output widths, Conv_1 and the
# 1280-d embedding stay as they are, so the cache, the head and the ONNX outputs do not change.

def _hidden_width(block: InvertedResidual) -> int:
    return block.depthwise.conv.out_channels


def _slice_conv_bn(layer: KerasConvBN, out_keep=None, in_keep=None) -> KerasConvBN:
    """A copy of `layer` keeping output channels `out_keep` (and for a plain conv input channels `in_keep`)."""
    conv = layer.conv
    depthwise = conv.groups > 1
    weight = conv.weight.detach()
    if out_keep is not None:
        weight = weight[out_keep]
    if in_keep is not None and not depthwise:
        weight = weight[:, in_keep]
    out_ch, in_ch = weight.shape[0], weight.shape[0] if depthwise else weight.shape[1]
    new = KerasConvBN(in_ch, out_ch, conv.kernel_size[0], layer.stride, depthwise, layer.relu6)
    new.conv.weight.data.copy_(weight)
    keep = slice(None) if out_keep is None else out_keep
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(new.bn, name).data.copy_(getattr(layer.bn, name).detach()[keep])
    return new


def _narrowed_block(block: InvertedResidual, keep: torch.Tensor) -> InvertedResidual:
    """`block` with only the hidden channels `keep` (sorted indices), weights copied."""
    new = copy_block_shape(block, len(keep))
    new.expand = _slice_conv_bn(block.expand, out_keep=keep)
    new.depthwise = _slice_conv_bn(block.depthwise, out_keep=keep)
    new.project = _slice_conv_bn(block.project, in_keep=keep)
    return new.train(block.training)  # a new module starts in training mode: BatchNorm would use batch statistics


def copy_block_shape(block: InvertedResidual, hidden: int) -> InvertedResidual:
    """A freshly initialised block shaped like `block` but with `hidden` expanded channels."""
    in_ch, out_ch = block.expand.conv.in_channels, block.project.conv.out_channels
    new = InvertedResidual(in_ch, 6, out_ch, block.depthwise.stride)
    new.expand = KerasConvBN(in_ch, hidden, 1, 1, False, True)
    new.depthwise = KerasConvBN(hidden, hidden, 3, block.depthwise.stride, True, True)
    new.project = KerasConvBN(hidden, out_ch, 1, 1, False, False)
    return new.train(block.training)


@torch.no_grad()
def prune_hidden_channels(model: IllustOnlyNet, start: int, keep_fraction: float, features: torch.Tensor) -> list[int]:
    """Narrows every inverted residual block at or above backbone.features[start] to `keep_fraction` of its
    hidden channels (a multiple of 8), keeping those that carry most to the block's output on `features`
    (the cached input of layer `start`, a sample of training images): mean activation after the depthwise
    conv times the norm of the channel's projection weights. Returns the new hidden widths."""
    if not 0 < keep_fraction <= 1:
        raise ValueError("keep fraction must be within (0, 1]")
    layers = model.backbone.features
    x = features
    widths = []
    for i in range(start, len(layers)):
        layer = layers[i]
        if isinstance(layer, InvertedResidual) and layer.expand is not None and keep_fraction < 1:
            hidden = layer.depthwise(layer.expand(x))
            score = hidden.abs().mean(dim=(0, 2, 3)) * layer.project.conv.weight.flatten(1).norm(dim=0)
            count = max(8, int(round(_hidden_width(layer) * keep_fraction / 8)) * 8)
            keep = torch.sort(torch.topk(score, count).indices).values
            layers[i] = _narrowed_block(layer, keep)
            widths.append(count)
        x = layers[i](x)
    return widths


def shape_like_state(model: IllustOnlyNet, state: dict) -> IllustOnlyNet:
    """Rebuilds the blocks whose hidden width in `state` (a saved state_dict) differs from `model`'s, so
    that a narrowed run's checkpoint loads. Returns `model` (changed in place)."""
    layers = model.backbone.features
    for i, layer in enumerate(layers):
        key = f"backbone.features.{i}.depthwise.conv.weight"
        if isinstance(layer, InvertedResidual) and key in state and state[key].shape[0] != _hidden_width(layer):
            layers[i] = copy_block_shape(layer, state[key].shape[0])
    return model


def load_checkpoint(path, dropout: float = 0.2) -> IllustOnlyNet:
    """An IllustOnlyNet holding a train.py checkpoint (full-width or narrowed), in eval mode."""
    state = torch.load(path, map_location="cpu")
    model = shape_like_state(IllustOnlyNet(dropout=dropout), state)
    model.load_state_dict(state)
    return model.eval()


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
        # What a corrections file's embeddings must measure, known before any correction is fitted.
        "embedding_size": EMBEDDING_SIZE,
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
