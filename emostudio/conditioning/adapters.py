"""Adapters: the one family of ways emotion enters a neural backbone.

Every adapter here is zero-initialised (untrained, it changes nothing), carries its own scale
(emotion strength is never tied to text, lip or identity guidance), saves and loads as safetensors
through ``save_pretrained``/``from_pretrained``, and is attached without copying a backbone's code:
either by swapping attention processors (decoupled cross-attention beside the backbone's own) or by
offsetting an embedding the backbone already takes (the speaker embedding of a TTS model).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .bank import EmotionEmbedding
from .taxonomy import CATEGORIES

NEUTRAL_INDEX = CATEGORIES.index("neutral")


# ---------------------------------------------------------------------------------------------
# Speaker-embedding offset (TTS backbones conditioned on a speaker vector, e.g. SpeechT5)
# ---------------------------------------------------------------------------------------------


class SpeakerEmotionConditioner(ModelMixin, ConfigMixin):
    """Maps an ``EmotionEmbedding`` to an offset of a speaker embedding.

    Emotion as a direction in speaker-embedding space, kept apart from identity: the speaker vector
    is passed through unchanged and the emotion is added to it as
    ``emotion_scale * amount * f(mixture, VAD direction)``, where the amount is the intensity times
    the non-neutral share of the mixture (neutral is the absence of emotion, not an emotion).
    Intensity multiplies the emotion term only, so intensity 0, plain neutral or scale 0 return
    the speaker exactly; the output layer starts at zero, so an untrained conditioner is a no-op.
    """

    config_name = "speaker_emotion_conditioner_config.json"

    @register_to_config
    def __init__(self, speaker_dim: int = 512, num_categories: int = len(CATEGORIES), hidden_dim: int = 128):
        super().__init__()
        # Input: the category mixture and the VAD point per unit intensity (the direction only).
        self.body = nn.Sequential(nn.Linear(num_categories + 3, hidden_dim), nn.SiLU(),
                                  nn.Linear(hidden_dim, hidden_dim), nn.SiLU())
        self.to_offset = nn.Linear(hidden_dim, speaker_dim)
        nn.init.zeros_(self.to_offset.weight)
        nn.init.zeros_(self.to_offset.bias)
        self.emotion_scale = 1.0

    def offset(self, emotion: EmotionEmbedding, scale: float | None = None) -> torch.Tensor:
        """(B, speaker_dim) offset for the emotion; zero where intensity or scale is zero."""
        intensity = emotion.intensity.to(self.to_offset.weight).reshape(-1, 1)
        weights = emotion.weights.to(intensity)
        direction = emotion.vad.to(intensity) / intensity.clamp(min=1e-3)
        features = torch.cat([weights, direction], dim=-1)
        strength = self.emotion_scale if scale is None else scale
        amount = intensity * (1.0 - weights[:, NEUTRAL_INDEX: NEUTRAL_INDEX + 1])
        return strength * amount * self.to_offset(self.body(features))

    def forward(self, speaker_embeddings: torch.Tensor, emotion: EmotionEmbedding,
                scale: float | None = None) -> torch.Tensor:
        """Speaker embeddings (B, D) or (D,) moved by the emotion's offset."""
        offset = self.offset(emotion, scale)
        if speaker_embeddings.dim() == 1:
            speaker_embeddings = speaker_embeddings[None].expand(offset.shape[0], -1)
        return speaker_embeddings + offset.to(speaker_embeddings)


# ---------------------------------------------------------------------------------------------
# Decoupled cross-attention (diffusion backbones: SVD's UNet, Wan's transformer)
# ---------------------------------------------------------------------------------------------


@dataclass
class TokenConditioning:
    """What the decoupled cross-attention layers attend to during one backbone call.

    ``tokens`` maps a stream name to (B, T, D) tokens shared by every frame, or (B, F, T, D) tokens
    per latent frame (per-frame audio windows, an emotion timeline). ``scales`` holds each stream's
    strength: a float, or a (B,) tensor so that the rows of a guidance batch can switch a stream
    off one by one (a row at scale 0 is exactly the backbone without that stream). ``region`` is an
    optional (B, 1 or F, H, W) mask at latent resolution restricting the streams to part of the
    picture (the face). ``frames_in_sequence`` says how the backbone lays out frames: SVD's
    spatial blocks fold frames into the batch (1), Wan folds them into the sequence (F).
    """

    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    scales: dict[str, float | torch.Tensor] = field(default_factory=dict)
    region: torch.Tensor | None = None
    frames_in_sequence: int = 1
    # Per-call work the layers share (the mask at each resolution, each stream's row weights).
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def region_rows(self, rows: int, length: int, dtype: torch.dtype) -> torch.Tensor | None:
        """The (rows, length, 1) mask at a layer's resolution, from the latent-resolution region."""
        if self.region is None:
            return None
        key = ("region", rows, length, dtype)
        if key not in self._cache:
            region = self.region.to(dtype)
            height, width = region.shape[-2:]
            factor = math.sqrt(height * width / length)
            size = (max(round(height / factor), 1), max(round(width / factor), 1))
            if size[0] * size[1] != length:
                size = (math.ceil(height / factor), math.ceil(width / factor))
            resized = torch.nn.functional.interpolate(region.flatten(0, 1)[:, None], size=size, mode="area")
            self._cache[key] = _rows(resized.reshape(-1, length, 1), rows)
        return self._cache[key]

    def scale_rows(self, name: str, scale: float | torch.Tensor, batch: int, rows: int, like: torch.Tensor
                   ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """A stream's (rows,) weights (None: all 1) and the rows it reaches (None: all of them)."""
        if isinstance(scale, (int, float)) and scale == 1:
            return None, None
        key = ("scale", name, batch, rows, like.dtype, like.device)
        if key not in self._cache:
            weight = torch.as_tensor(scale, dtype=like.dtype, device=like.device).reshape(-1)
            weight = _rows(weight.expand(batch) if weight.numel() == 1 else weight, rows)
            chosen = torch.nonzero(weight).flatten()
            self._cache[key] = weight, (None if len(chosen) == rows else chosen)
        return self._cache[key]


class TokenStream(nn.Module):
    """Key and value projections for one token stream at one attention layer, plus its output.

    The output projection starts at zero, so a new stream adds nothing until it is trained.
    """

    def __init__(self, token_dim: int, inner_dim: int, out_dim: int):
        super().__init__()
        self.to_k = nn.Linear(token_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(token_dim, inner_dim, bias=False)
        self.to_out = nn.Linear(inner_dim, out_dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)


def _layer_key(processor_name: str) -> str:
    # ModuleDict keys may not contain dots.
    return processor_name.removesuffix(".processor").replace(".", "__")


def _rows(value: torch.Tensor, rows: int) -> torch.Tensor:
    """Repeat a per-sample tensor (B, ...) to ``rows`` = B * k rows (frames folded into the batch)."""
    if value.shape[0] == rows:
        return value
    if rows % value.shape[0]:
        raise ValueError(f"Conditioning for {value.shape[0]} samples cannot cover {rows} attention rows.")
    return value.repeat_interleave(rows // value.shape[0], dim=0)


class DecoupledCrossAttnProcessor:
    """Runs a layer's own processor, then adds attention over extra token streams.

    ``out = base(x, context) + sum_s scale_s * region * W_out_s softmax(q k_s^T) v_s`` where the
    query is the layer's own (``to_q``, then ``norm_q`` where the backbone has one) and each stream
    has its own keys, values and zero-initialised output (IP-Adapter's decoupled cross-attention,
    generalised to several streams with independent scales). The base processor is called as is,
    so the backbone's text/image context is never reinterpreted, and a stream at scale 0 or
    without tokens leaves the layer's output bit-identical.

    The query the base processor computes is taken as it leaves ``to_q`` rather than computed a
    second time, and only the rows whose scale is not 0 attend to a stream (a guidance batch
    switches streams off row by row), so the adapter adds little beside the layer's own work.
    """

    def __init__(self, base, streams: nn.ModuleDict, adapter: "DecoupledCrossAttentionAdapter"):
        self.base = base
        self.streams = streams
        self.adapter = adapter

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, *args, **kwargs) -> torch.Tensor:
        conditioning = self.adapter.conditioning
        active = [] if conditioning is None else [
            (name, conditioning.tokens[name], conditioning.scales.get(name, 1.0))
            for name in self.streams if name in conditioning.tokens]
        active = [item for item in active if not (isinstance(item[2], (int, float)) and item[2] == 0)]
        if not active or hidden_states.dim() != 3:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, *args, **kwargs)

        captured: list[torch.Tensor] = []
        hook = attn.to_q.register_forward_hook(
            lambda module, inputs, output: captured.append(output) if not captured else None)
        try:
            out = self.base(attn, hidden_states, encoder_hidden_states, attention_mask, *args, **kwargs)
        finally:
            hook.remove()
        query = captured[0] if captured and captured[0].shape[:2] == hidden_states.shape[:2] else attn.to_q(hidden_states)
        if getattr(attn, "norm_q", None) is not None:
            query = attn.norm_q(query)

        frames = max(int(conditioning.frames_in_sequence), 1)
        batch, length, _ = hidden_states.shape
        per_frame = length // frames
        rows = batch * frames
        heads = attn.heads
        head_dim = query.shape[-1] // heads
        # Attend frame by frame: (B, F*N, C) -> (B*F, N, C), so per-frame tokens meet their own frame.
        query = query.reshape(rows, per_frame, heads, head_dim).transpose(1, 2)
        region = conditioning.region_rows(rows, per_frame, query.dtype)

        added = None
        for name, tokens, scale in active:
            stream = self.streams[name]
            weight, chosen = conditioning.scale_rows(name, scale, batch, rows, query)
            if chosen is not None and len(chosen) == 0:
                continue
            tokens = tokens.to(query.dtype)
            if tokens.dim() == 4:  # (B, F, T, D): one token set per frame
                tokens = tokens.flatten(0, 1)
            # Keys and values of tokens shared by every frame are projected once per sample.
            key = _rows(stream.to_k(tokens), rows)
            value = _rows(stream.to_v(tokens), rows)
            stream_query = query
            if chosen is not None:
                stream_query, key, value = query[chosen], key[chosen], value[chosen]
            key = key.unflatten(-1, (heads, head_dim)).transpose(1, 2)
            value = value.unflatten(-1, (heads, head_dim)).transpose(1, 2)
            attended = torch.nn.functional.scaled_dot_product_attention(stream_query, key, value)
            attended = stream.to_out(attended.transpose(1, 2).flatten(2))
            factor = 1.0 if weight is None else weight.reshape(-1, 1, 1)
            if chosen is not None:
                factor = factor[chosen]
                if region is not None:
                    factor = factor * region[chosen]
                full = attended.new_zeros((rows, *attended.shape[1:]))
                attended = full.index_copy(0, chosen, attended * factor)
            else:
                if region is not None:
                    factor = factor * region
                attended = attended * factor if not isinstance(factor, float) else attended
            added = attended if added is None else added + attended
        if added is None:
            return out
        return out + added.reshape(batch, length, -1).to(out.dtype)


class DecoupledCrossAttentionAdapter(ModelMixin, ConfigMixin):
    """Token streams (emotion, audio, ...) attended beside a diffusion backbone's cross-attention.

    Built for one backbone from its attention layers (``for_backbone``), saved and loaded as
    safetensors apart from it, and attached by swapping those layers' processors (``attach``); the
    backbone's own weights are never touched. Each call passes its tokens, scales and region
    through ``conditioned(...)``. All outputs start at zero, so an untrained adapter, a stream at
    scale 0 and a stream without tokens all give the backbone's own output exactly.
    """

    config_name = "decoupled_cross_attention_config.json"

    @register_to_config
    def __init__(self, stream_dims: dict[str, int], layer_dims: dict[str, list[int]]):
        super().__init__()
        # layer_dims: processor name -> [inner_dim, out_dim] of that attention layer.
        self.layers = nn.ModuleDict({
            _layer_key(name): nn.ModuleDict({stream: TokenStream(token_dim, inner, out)
                                             for stream, token_dim in stream_dims.items()})
            for name, (inner, out) in layer_dims.items()})
        self.conditioning: TokenConditioning | None = None

    @classmethod
    def for_backbone(cls, backbone, stream_dims: dict[str, int],
                     select: Callable[[str], bool] = lambda name: name.endswith("attn2.processor")
                     ) -> "DecoupledCrossAttentionAdapter":
        """An adapter with one set of streams per selected attention layer of ``backbone``.

        The default selects every cross-attention layer (``attn2``) that diffusers names so; pass
        ``select`` to narrow it (SVD: the spatial ones only, as its temporal blocks see frame 0's
        context only).
        """
        modules = dict(backbone.named_modules())
        layer_dims = {}
        for name in backbone.attn_processors:
            if not select(name):
                continue
            attn = modules[name.removesuffix(".processor")]
            layer_dims[name] = [attn.to_q.out_features, _output_dim(attn)]
        if not layer_dims:
            raise ValueError("No attention layer of the backbone matched; check the layer selection.")
        return cls(stream_dims=dict(stream_dims), layer_dims=layer_dims)

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.config.stream_dims)

    def attach(self, backbone) -> None:
        """Swap the processors of the adapter's layers in ``backbone`` (others stay as they are)."""
        processors = backbone.attn_processors
        missing = [name for name in self.config.layer_dims if name not in processors]
        if missing:
            raise ValueError(f"This adapter was built for another backbone (no layer {missing[0]}).")
        for name in self.config.layer_dims:
            base = processors[name]
            if isinstance(base, DecoupledCrossAttnProcessor):
                base = base.base
            processors[name] = DecoupledCrossAttnProcessor(base, self.layers[_layer_key(name)], self)
        backbone.set_attn_processor(processors)

    def detach(self, backbone) -> None:
        """Give the backbone its own processors back."""
        processors = {name: (p.base if isinstance(p, DecoupledCrossAttnProcessor) else p)
                      for name, p in backbone.attn_processors.items()}
        backbone.set_attn_processor(processors)

    @contextmanager
    def conditioned(self, conditioning: TokenConditioning | None = None, **fields: Any) -> Iterator[TokenConditioning]:
        """``with adapter.conditioned(tokens=..., scales=...): backbone(...)``"""
        conditioning = conditioning or TokenConditioning(**fields)
        unknown = set(conditioning.tokens) - set(self.streams)
        if unknown:
            raise ValueError(f"Unknown token stream(s) {sorted(unknown)}; this adapter has {list(self.streams)}.")
        previous, self.conditioning = self.conditioning, conditioning
        try:
            yield conditioning
        finally:
            self.conditioning = previous


def _output_dim(attn) -> int:
    out = attn.to_out[0] if isinstance(attn.to_out, nn.ModuleList) else attn.to_out
    return out.out_features


def stream_dropout(batch: int, probability: float, generator: torch.Generator | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """(B,) per-sample scales of 1 with each row dropped to 0 with ``probability``.

    Dropping streams one by one in training is what makes their guidance scales separate at
    inference (each stream learns both its presence and its absence).
    """
    keep = torch.rand(batch, generator=generator) >= probability
    return keep.to(device=device, dtype=torch.float32)


class LatentEmotionProbe(ModelMixin, ConfigMixin):
    """The emotion-discrimination objective: the bank's classifier read from a denoised latent.

    Pooled latent features are mapped into the bank's token space and classified by the bank's
    own classifier, so a generator is pushed to make latents whose emotion the bank can name
    (DICE-Talk's emotion-discrimination loss). With ``grid`` > 1 the probe also sees the latent
    averaged over a grid x grid layout of each frame, so it can tell where in the face a change is.
    """

    config_name = "latent_emotion_probe_config.json"

    @register_to_config
    def __init__(self, latent_channels: int, embedding_dim: int = 64, hidden_dim: int = 128, grid: int = 1):
        super().__init__()
        features = 2 * latent_channels + (latent_channels * grid * grid if grid > 1 else 0)
        self.to_token = nn.Sequential(nn.Linear(features, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, embedding_dim))

    def forward(self, latents: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        """(B, C, ..., H, W) or any layout with channels at ``channel_dim`` -> (B, 1, D) tokens."""
        moved = latents.movedim(channel_dim, 1).float()
        flat = moved.flatten(2)
        pooled = [flat.mean(-1), flat.std(-1)]
        grid = self.config.grid
        if grid > 1:
            batch, channels, height, width = moved.shape[0], moved.shape[1], moved.shape[-2], moved.shape[-1]
            frames = moved.reshape(batch, channels, -1, height, width).movedim(2, 1).flatten(0, 1)
            layout = torch.nn.functional.adaptive_avg_pool2d(frames, grid)
            pooled.append(layout.reshape(batch, -1, channels * grid * grid).mean(1))
        return self.to_token(torch.cat(pooled, dim=-1))[:, None]

    def loss(self, latents: torch.Tensor, bank, target_weights: torch.Tensor, channel_dim: int = 1,
             row_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of the bank's classifier against the requested mixture (soft targets).

        ``row_weights`` (B,) counts some rows only (those whose emotion stream was on in training).
        """
        return soft_cross_entropy(bank.classify(self(latents, channel_dim)), target_weights, row_weights)

    def discrimination_loss(self, denoised: torch.Tensor, clean: torch.Tensor, bank, target_weights: torch.Tensor,
                            channel_dim: int = 1, row_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The probe learns to name the emotion of real latents; the generator is pushed to make denoised
        latents that the probe, as it stands, names as asked.

        The probe and the bank's classifier never learn from the generator's latents: trained on those as
        well, they and the generator could agree on a code the data does not have (a colour shift, a darker
        face) instead of the expression. ``row_weights`` selects the generated rows that count.
        """
        real = self.loss(clean.detach(), bank, target_weights, channel_dim)
        with parameters_frozen(self, bank.classifier):
            generated = self.loss(denoised, bank, target_weights, channel_dim, row_weights)
        return real + generated


@contextmanager
def parameters_frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside, what is computed does not train these modules' parameters (gradients still reach the inputs)."""
    parameters = [(parameter, parameter.requires_grad) for module in modules for parameter in module.parameters()]
    for parameter, _ in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, wanted in parameters:
            parameter.requires_grad_(wanted)


def soft_cross_entropy(logits: torch.Tensor, target_weights: torch.Tensor,
                       row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against (B, K) mixture targets, over the rows ``row_weights`` (B,) counts."""
    per_row = -(target_weights.to(logits) * torch.log_softmax(logits, dim=-1)).sum(-1)
    if row_weights is None:
        return per_row.mean()
    row_weights = row_weights.to(per_row)
    return (per_row * row_weights).sum() / row_weights.sum().clamp(min=1.0)
