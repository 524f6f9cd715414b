"""Forecaster: a sequence backbone turned into a long-horizon forecaster.

``(B, L_in, C) -> (B, H, C)``: reversible instance norm, patch (or point) embedding, the backbone
over the tokens, and a linear head from all token features to the horizon (to every step's
``n_quantiles`` values for a quantile model: ``(B, H, C, Q)``). By default every
channel is its own series (channel independence, as PatchTST found best on LTSF data): the C
channels fold into the batch, so one model is shared by all variables. With
``channel_independent=False`` each token holds all channels and the head predicts all at once.
"""

from __future__ import annotations

from torch import Tensor, nn

from tsssm.models.backbone import Backbone
from tsssm.models.patching import PatchEmbedding
from tsssm.models.revin import RevIN
from tsssm.models.shape import ForecastShape


class Forecaster(nn.Module):
    """Backbone-based forecaster; see the module docstring for the data flow."""

    def __init__(self, shape: ForecastShape, backbone: Backbone, patch_len: int = 16,
                 stride: int = 8, channel_independent: bool = True, revin: bool = True,
                 head_dropout: float = 0.0) -> None:
        super().__init__()
        self.shape = shape
        self.backbone = backbone
        self.channel_independent = channel_independent
        d_model = backbone.d_model
        features = 1 if channel_independent else shape.n_channels
        self.revin = RevIN(shape.n_channels) if revin else None
        self.embed = PatchEmbedding(shape.lookback, features, d_model, patch_len, stride)
        outputs = shape.horizon * shape.n_quantiles * (1 if channel_independent else shape.n_channels)
        self.head = nn.Sequential(nn.Flatten(1), nn.Dropout(head_dropout),
                                  nn.Linear(self.embed.n_tokens * d_model, outputs))

    def forward(self, x: Tensor) -> Tensor:
        batch, lookback, channels = x.shape
        if (lookback, channels) != (self.shape.lookback, self.shape.n_channels):
            raise ValueError(f"Forecaster expects inputs (B, {self.shape.lookback}, "
                             f"{self.shape.n_channels}), got {tuple(x.shape)}")
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        horizon, quantiles = self.shape.horizon, self.shape.n_quantiles
        if self.channel_independent:
            series = x.transpose(1, 2).reshape(batch * channels, lookback, 1)
            y = self.head(self.backbone(self.embed(series)))
            y = y.reshape(batch, channels, horizon, quantiles).permute(0, 2, 3, 1)
        else:
            y = self.head(self.backbone(self.embed(x))).reshape(batch, horizon, quantiles, channels)
        if self.revin is not None:  # over (B, H * Q, C): every quantile back to the input's scale
            y = self.revin.denormalize(y.flatten(1, 2), stats).unflatten(1, (horizon, quantiles))
        return y.squeeze(2) if quantiles == 1 else y.transpose(2, 3)
