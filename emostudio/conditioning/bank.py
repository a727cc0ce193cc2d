"""EmotionBank: Gaussian emotion prototypes, a codebook, and attention that turns a mixture into tokens.

After the Emotion Banks of DICE-Talk (Disentangle Identity, Cooperate Emotion): every category is
a Gaussian (mean and log-variance) in one D-dimensional space; a learnable codebook holds emotion
"atoms" shared between categories; attention from learnable queries, conditioned on the requested
emotion, aggregates the codebook into N conditioning tokens, so that correlated emotions share
codes and a mixture borrows from all of its parts.

Untrained, the prototype means are an isometric embedding of the categories' VAD coordinates
(a fixed orthonormal 3->D map), so distances between prototypes equal distances in VAD space and
related emotions lie close; the codebook starts as jittered copies of the prototypes.

With ``slot_projections`` each token also reads the emotion through its own learned projection, so
the N tokens differ from one another (the codebook's atoms alone are too alike for that); a
generator whose adapter attends to the tokens can then route them to different places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .pretrained import PretrainedModule, register_to_config
from .spec import EmotionSpec
from .taxonomy import CATEGORIES, CATEGORY_VAD


@dataclass
class EmotionEmbedding:
    """The emotion a generator is conditioned on (batched: first dimension B).

    ``vector`` and ``logvar`` are the Gaussian in the bank's space, ``tokens`` the (B, N, D)
    conditioning tokens for attention-based adapters, ``vad`` the (B, 3) valence-arousal-dominance
    point, ``weights`` the (B, K) category mixture and ``intensity`` the (B,) overall intensity.
    """

    vector: torch.Tensor
    logvar: torch.Tensor
    tokens: torch.Tensor
    vad: torch.Tensor
    weights: torch.Tensor
    intensity: torch.Tensor

    def __len__(self) -> int:
        return self.vector.shape[0]


class EmotionBank(PretrainedModule):
    config_name = "emotion_bank_config.json"

    @register_to_config
    def __init__(
        self,
        categories: tuple[str, ...] = CATEGORIES,
        category_vad: tuple[tuple[float, float, float], ...] | None = None,
        embedding_dim: int = 64,
        num_codes: int = 32,
        num_tokens: int = 4,
        num_heads: int = 4,
        prior_scale: float = 1.0,
        prior_std: float = 0.15,
        seed: int = 0,
        slot_projections: bool = False,
    ) -> None:
        super().__init__()
        if category_vad is None:
            category_vad = tuple(CATEGORY_VAD[name] for name in categories)
        vad = torch.tensor(category_vad, dtype=torch.float32)
        self.register_buffer("prototype_vad", vad)

        generator = torch.Generator().manual_seed(seed)
        projection, _ = torch.linalg.qr(torch.randn(embedding_dim, 3, generator=generator))
        self.register_buffer("vad_projection", projection)  # (D, 3), orthonormal columns

        means = prior_scale * vad @ projection.T
        self.prototype_mean = nn.Parameter(means)
        self.prototype_logvar = nn.Parameter(torch.full_like(means, 2 * math.log(prior_std)))

        owners = torch.arange(num_codes) % len(categories)
        jitter = 0.05 * prior_scale * torch.randn(num_codes, embedding_dim, generator=generator)
        self.codebook = nn.Parameter(means[owners] + jitter)

        self.token_queries = nn.Parameter(0.02 * torch.randn(num_tokens, embedding_dim, generator=generator))
        self.query_proj = nn.Linear(embedding_dim, embedding_dim)
        self.attention = nn.MultiheadAttention(embedding_dim, num_heads, batch_first=True)
        self.token_norm = nn.LayerNorm(embedding_dim)
        # Each token reads the emotion through its own projection, so that the N tokens differ (the
        # codebook's atoms alone are too alike to make them differ) and an adapter can attend to
        # different tokens in different places of a picture.
        self.slot_projection = (nn.Parameter(torch.randn(num_tokens, embedding_dim, embedding_dim, generator=generator)
                                             / math.sqrt(embedding_dim)) if slot_projections else None)
        # Emotion classifier on the pooled tokens: the emotion-discrimination objective generators
        # are trained against. Initialised to read the prototypes, so it is sensible untrained.
        self.classifier = nn.Linear(embedding_dim, len(categories))
        with torch.no_grad():
            for parameter in (*self.query_proj.parameters(), *self.attention.parameters()):
                if parameter.dim() > 1:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) / math.sqrt(parameter.shape[-1]))
                else:
                    parameter.zero_()

        with torch.no_grad():
            self.classifier.weight.copy_(means / means.norm(dim=1, keepdim=True).clamp(min=1e-6))
            self.classifier.bias.zero_()

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.config.categories)

    def weights_for(self, specs: list[EmotionSpec]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, K) mixture weights and (B,) intensities for a list of specs."""
        weights = torch.tensor(np.stack([[spec.weights.get(name, 0.0) for name in self.categories]
                                         for spec in specs]), dtype=torch.float32)
        intensity = torch.tensor([spec.intensity for spec in specs], dtype=torch.float32)
        device = self.prototype_mean.device
        return weights.to(device), intensity.to(device)

    def forward(self, weights: torch.Tensor, intensity: torch.Tensor) -> EmotionEmbedding:
        """Embed (B, K) mixtures at (B,) intensities. Intensity 0 gives the neutral prototype."""
        neutral = self.categories.index("neutral")
        scale = intensity[:, None]
        mean = self.prototype_mean[neutral] + scale * (weights @ self.prototype_mean - self.prototype_mean[neutral])
        logvar = self.prototype_logvar[neutral] + scale * (weights @ self.prototype_logvar
                                                            - self.prototype_logvar[neutral])
        vad = scale * (weights @ self.prototype_vad)
        tokens = self.aggregate(mean)
        return EmotionEmbedding(mean, logvar, tokens, vad, weights, intensity)

    def aggregate(self, vector: torch.Tensor) -> torch.Tensor:
        """Attend from the (emotion-conditioned) token queries over the codebook: (B, D) -> (B, N, D)."""
        batch = vector.shape[0]
        queries = self.token_queries[None] + self.query_proj(vector)[:, None]
        codebook = self.codebook[None].expand(batch, -1, -1)
        attended, _ = self.attention(queries, codebook, codebook, need_weights=False)
        if self.slot_projection is None:
            return self.token_norm(attended + vector[:, None])
        return self.token_norm(attended + torch.einsum("bd,nde->bne", vector, self.slot_projection))

    def embed(self, specs: EmotionSpec | list[EmotionSpec]) -> EmotionEmbedding:
        specs = [specs] if isinstance(specs, EmotionSpec) else list(specs)
        return self(*self.weights_for(specs))

    def sample(self, embedding: EmotionEmbedding, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw from the embedding's Gaussian, for variation between takes."""
        noise = torch.randn(embedding.vector.shape, generator=generator, device=embedding.vector.device)
        return embedding.vector + noise * torch.exp(0.5 * embedding.logvar)

    def quantize(self, vector: torch.Tensor, beta: float = 0.25) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Vector quantisation against the codebook (van den Oord et al., 2017).

        Returns the straight-through quantised vectors (gradients flow to ``vector`` as if
        unquantised), the chosen code indices, and the VQ loss: codebook term plus ``beta`` times
        the commitment term.
        """
        distances = torch.cdist(vector, self.codebook)
        indices = distances.argmin(dim=-1)
        codes = self.codebook[indices]
        loss = torch.mean((codes - vector.detach()) ** 2) + beta * torch.mean((vector - codes.detach()) ** 2)
        return vector + (codes - vector).detach(), indices, loss

    def classify(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) conditioning tokens -> (B, K) emotion logits."""
        return self.classifier(tokens.mean(dim=1))

    def embedding_from_vector(self, vector: torch.Tensor, logvar: torch.Tensor | None = None) -> EmotionEmbedding:
        """An EmotionEmbedding for points in the bank's space (e.g. from the embedder).

        The mixture is the posterior over the categories (neutral when neutral is the most likely,
        otherwise the posterior over the other categories); the intensity is how far the point lies
        along the way from the neutral prototype to that mixture's prototype, the inverse of
        ``forward`` along that line.
        """
        neutral_index = self.categories.index("neutral")
        with torch.no_grad():
            posterior = self.posterior(vector)
            weights = posterior.clone()
            weights[:, neutral_index] = 0.0
            weights = weights / weights.sum(dim=-1, keepdim=True).clamp(min=1e-9)
            neutral = self.prototype_mean[neutral_index]
            direction = weights @ self.prototype_mean - neutral
            along = ((vector - neutral) * direction).sum(-1) / (direction * direction).sum(-1).clamp(min=1e-9)
            intensity = along.clamp(0.0, 1.0)
            is_neutral = posterior.argmax(dim=-1) == neutral_index
            weights[is_neutral] = torch.nn.functional.one_hot(torch.tensor(neutral_index), len(self.categories)).to(
                weights.dtype)
            intensity[is_neutral] = 0.0
            vad = intensity[:, None] * (weights @ self.prototype_vad)
            logvar = logvar if logvar is not None else weights @ self.prototype_logvar
        return EmotionEmbedding(vector, logvar, self.aggregate(vector), vad, weights, intensity)

    def log_likelihood(self, vector: torch.Tensor) -> torch.Tensor:
        """(B, D) points -> (B, K) diagonal-Gaussian log-likelihood under each prototype."""
        var = torch.exp(self.prototype_logvar)
        diff = vector[:, None, :] - self.prototype_mean[None]
        return -0.5 * ((diff**2) / var + self.prototype_logvar + math.log(2 * math.pi)).sum(-1)

    def posterior(self, vector: torch.Tensor) -> torch.Tensor:
        """(B, K) category probabilities of points in the bank's space (equal priors)."""
        return torch.softmax(self.log_likelihood(vector), dim=-1)
