"""The closed-form linear forecaster: one least-squares map from the ``lookback`` past values of a
series to its ``horizon`` next ones, with an intercept, shared by every channel.

Nothing is trained: ``fit_closed_form`` solves the normal equations in float64 over the training
windows, read batch by batch (memory holds one ``(lookback + 1)``-square matrix, whatever the number
of windows), and keeps the solution as buffers, so checkpoints carry it. It is the linear bar of the
LTSF literature with no optimiser in the way: a sequence model that does not beat it has learned
nothing a linear map would not.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from tsssm.models.shape import ForecastShape


class LeastSquares(nn.Module):
    """``y[:, :, c] = x[:, :, c] @ weight + bias`` for every channel ``c``: ``(B, L, C) -> (B, H, C)``.

    ``weight`` ``(L, H)`` and ``bias`` ``(H,)`` minimise the squared error over the windows given to
    ``fit_closed_form`` plus ``ridge`` times the squared norm of weight and bias together (0: plain
    least squares).
    """

    def __init__(self, shape: ForecastShape, ridge: float = 0.0) -> None:
        super().__init__()
        if shape.n_quantiles > 1:
            raise ValueError("LeastSquares forecasts one value per step (the least-squares mean), "
                             "so it cannot forecast quantiles: use task.loss=mse with model=lstsq")
        if ridge < 0:
            raise ValueError(f"model.net.ridge must be 0 or positive, got {ridge}")
        self.shape = shape
        self.ridge = ridge
        self.register_buffer("weight", torch.zeros(shape.lookback, shape.horizon))
        self.register_buffer("bias", torch.zeros(shape.horizon))

    def forward(self, x: Tensor) -> Tensor:
        return (x.transpose(1, 2) @ self.weight + self.bias).transpose(1, 2)

    @torch.no_grad()
    def fit_closed_form(self, batches: Iterable[tuple[Tensor, Tensor]]) -> None:
        """Solve ``weight`` and ``bias`` from ``(x, y)`` batches, ``(B, L, C)`` and ``(B, H, C)``,
        each channel of each window one row of the least-squares problem."""
        lookback = self.shape.lookback
        device = self.weight.device
        gram = torch.zeros(lookback + 1, lookback + 1, dtype=torch.float64, device=device)
        cross = torch.zeros(lookback + 1, self.shape.horizon, dtype=torch.float64, device=device)
        for x, y in batches:
            inputs = x.to(device, torch.float64).transpose(1, 2).reshape(-1, lookback)
            design = torch.cat([inputs, inputs.new_ones(len(inputs), 1)], dim=1)
            targets = y.to(device, torch.float64).transpose(1, 2).reshape(len(design), -1)
            gram += design.T @ design
            cross += design.T @ targets
        if not gram[-1, -1]:
            raise ValueError("LeastSquares.fit_closed_form was given no training windows")
        gram += self.ridge * torch.eye(lookback + 1, dtype=torch.float64, device=device)
        solution = torch.linalg.solve(gram, cross)
        self.weight.copy_(solution[:-1])
        self.bias.copy_(solution[-1])
