"""`train_step`, the one optimisation step of training and of bench/bench_model.py."""

import pytest
import torch

from interhand.train.loop import LossReadback, train_step


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


def test_a_step_reads_nothing_back_to_the_host():
    """On a GPU a read of a device value waits for the step: the step itself makes none (aten._local_scalar_dense
    is what float(), .item() and bool() of a tensor dispatch to)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Reads(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, function, types, args=(), kwargs=None):
            Reads.count += function is torch.ops.aten._local_scalar_dense.default
            return function(*args, **(kwargs or {}))

    model, optimizer = _linear()
    with Reads():
        train_step(model, optimizer, torch.ones(2, 3), lambda output: {"a": output.sum(), "b": 2 * output.sum()})
    assert Reads.count == 0


def test_readback_names_the_first_step_whose_loss_was_not_finite():
    readback = LossReadback(("a", "b"), torch.device("cpu"))
    readback.add({"a": torch.tensor(1.0), "b": torch.tensor(2.0)}, 0)
    assert readback.read(3) == ({"loss_a": 1.0, "loss_b": 2.0}, {"loss_a": 1.0, "loss_b": 2.0})
    readback.add({"a": torch.tensor(float("nan")), "b": torch.tensor(2.0)}, 1)
    readback.add({"a": torch.tensor(float("inf")), "b": torch.tensor(2.0)}, 2)
    with pytest.raises(FloatingPointError, match=r"epoch 3 iteration 1: loss is nan .*'a': nan.*lower --lr"):
        readback.read(3)


def test_a_loss_that_is_not_finite_stops_training_before_the_next_snapshot(synth_ih26m_shards, tmp_path, monkeypatch):
    import interhand.train.loop as loop
    from interhand.config import LoaderConfig, ModelConfig, TrainConfig
    from interhand.train.run import run

    calls = {"count": 0}
    losses = loop.internet_losses

    def nan_from_the_second_step(*args, **kwargs):
        calls["count"] += 1
        terms = losses(*args, **kwargs)
        return {**terms, "hand_type": terms["hand_type"] * float("nan")} if calls["count"] >= 2 else terms

    monkeypatch.setattr(loop, "internet_losses", nan_from_the_second_step)
    config = TrainConfig(shards=str(synth_ih26m_shards.parent.parent), run_dir=str(tmp_path / "run"), epochs=1,
                         steps_per_epoch=4, snapshot_every=3, log_every=10,
                         model=ModelConfig(resnet_type=18, input_size=64, heatmap_size=16),
                         loader=LoaderConfig(batch_size=2, threads=0))
    with pytest.raises(FloatingPointError, match="epoch 0 iteration 1: loss is nan"):
        run(config)
    assert calls["count"] == 3  # read back before the snapshot of iteration 3
    assert not list((tmp_path / "run" / "model_dump").iterdir())
