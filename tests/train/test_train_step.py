"""`train_step`, the one optimisation step of training and of bench/bench_model.py."""

import pytest
import torch

from interhand.train.loop import train_step


def _linear():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def test_a_step_sums_the_terms_and_moves_the_weights_down_their_gradient():
    model, optimizer = _linear()
    images = torch.ones(2, 3)
    before = model.weight.detach().clone()
    losses = train_step(model, optimizer, images, lambda output: {"a": output.sum(), "b": 2 * output.sum()})
    assert set(losses) == {"a", "b"}
    # d(3·Σ output)/dW = 3 · Σ over the batch of the inputs = 6 per weight; SGD subtracts lr × that
    torch.testing.assert_close(model.weight.detach(), before - 0.1 * 6.0)


def test_a_loss_that_is_not_finite_raises_before_the_weights_change():
    model, optimizer = _linear()
    before = model.weight.detach().clone()
    with pytest.raises(FloatingPointError, match="loss is nan .*lower --lr"):
        train_step(model, optimizer, torch.ones(2, 3), lambda output: {"a": output.sum() * float("nan")})
    torch.testing.assert_close(model.weight.detach(), before)
