from __future__ import annotations

import logging

import pandas as pd
import pytest
import torch

from mtllib import build_model, fit, get_approach, training_step
from mtllib.diagnostics import COLUMNS, CSV_NAME, TriadRecorder, measure_triad, read_diagnostics
from mtllib.lass import masked_layers, set_masks
from mtllib.pcgrad import PCGrad

from .helpers import DropoutNet, dropout_batches, random_batches, small_config, small_leafnet, task_gradients

PAIR_SUMS = ("dot", "squared_norm_i", "squared_norm_j")


def fit_with(letter: str, recorder: TriadRecorder | None, **config_changes: object) -> dict[str, torch.Tensor]:
    config = small_config(epochs=2, lass_switch_epoch=1, lass_finetune_epochs=1, **config_changes)
    model = build_model(letter, (12, 2), config)
    fit(model, random_batches(2, batch_size=4), letter, config, observer=recorder)
    return model.state_dict()


def train_steps(letter: str, recorder: TriadRecorder, steps: int = 2, seed: int = 0) -> None:
    """Train a small LeafNet of approach ``letter`` for ``steps`` steps, with LaSS masks set from the start."""
    approach = get_approach(letter)
    model = small_leafnet(modulation=approach.modulation, lass=approach.lass)
    if approach.lass:
        set_masks(model, random_masks(model, seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pcgrad = PCGrad(optimizer, model.shared_parameters(), seed=seed) if approach.pcgrad else None
    for step, batch in enumerate(random_batches(steps, batch_size=4, image_size=16, seed=seed)):
        training_step(model, optimizer, batch, pcgrad=pcgrad, observer=recorder, step=step)


def values(frame: pd.DataFrame, quantity: str, **columns: object) -> pd.Series:
    selected = frame[frame["quantity"] == quantity]
    for column, wanted in columns.items():
        selected = selected[selected[column] == wanted]
    return selected["value"]


def random_masks(model, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(layer.masks.shape, generator=generator) < 0.6 for name, layer in masked_layers(model).items()}


@pytest.mark.parametrize(
    ("letter", "changes"),
    [*((letter, {}) for letter in "ABCDEFGH"), ("E", {"pcgrad_mode": "wrapper"}), ("H", {"pcgrad_mode": "wrapper"})],
)
def test_recording_leaves_training_unchanged(letter: str, changes: dict) -> None:
    rng_before = torch.get_rng_state()
    plain = fit_with(letter, None, **changes)
    rng_plain = torch.get_rng_state()
    recorder = TriadRecorder(every=1, curvature_every=1, context={"approach": letter})
    recorded = fit_with(letter, recorder, **changes)

    assert recorder.num_rows > 0
    assert set(recorder.to_frame()["step"]) == {0, 1, 2, 3}
    assert plain.keys() == recorded.keys()
    for key in plain:
        assert torch.equal(plain[key], recorded[key]), key
    assert torch.equal(torch.get_rng_state(), rng_plain)
    assert torch.equal(rng_plain, rng_before)


def test_recording_leaves_dropout_model_unchanged() -> None:
    states = []
    config = small_config(epochs=2)
    for recorder in (None, "recorder"):
        torch.manual_seed(0)
        model = DropoutNet()
        observer = None
        if recorder:
            observer = TriadRecorder(every=1, curvature_every=1, parameters=model.trunk.parameters())
        fit(model, dropout_batches(), "A", config, observer=observer)
        states.append((model.state_dict(), torch.get_rng_state()))
        if observer is not None:
            assert set(observer.to_frame()["layer"]) == {"all", "trunk.0", "trunk.1"}

    (plain, plain_rng), (recorded, recorded_rng) = states
    for key in plain:
        assert torch.equal(plain[key], recorded[key]), key
    assert torch.equal(plain_rng, recorded_rng)


def test_recorder_schedule() -> None:
    recorder = TriadRecorder(every=10, curvature_every=25)
    config = small_config(epochs=1)
    model = build_model("A", (12, 2), config)
    fit(model, random_batches(51, batch_size=2, image_size=64), "A", config, observer=recorder)
    frame = recorder.to_frame()

    assert [s for s in range(51) if recorder.wants(s)] == [0, 10, 20, 25, 30, 40, 50]
    assert sorted(set(values(frame, "cosine").index.map(frame["step"]))) == [0, 10, 20, 30, 40, 50]
    assert sorted(frame.loc[frame["quantity"] == "curvature", "step"]) == [0, 25, 50]


def test_curvature_only_step_matches_measure_triad() -> None:
    model = small_leafnet()
    batch = random_batches(1, batch_size=6, image_size=16)[0]
    expected = measure_triad(model, batch)
    recorder = TriadRecorder(every=2, curvature_every=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

    training_step(model, optimizer, batch, observer=recorder, step=3)
    frame = recorder.to_frame()

    assert set(frame["quantity"]) == {"gradient_squared_norm", "curvature", "normalised_curvature"}
    for quantity in ("gradient_squared_norm", "curvature"):
        recorded = values(frame, quantity).item()
        assert recorded == pytest.approx(values(expected, quantity).item(), rel=1e-5), quantity


def test_recorder_without_curvature() -> None:
    recorder = TriadRecorder(every=1, curvature_every=None)
    train_steps("A", recorder)
    assert "curvature" not in set(recorder.to_frame()["quantity"])


def test_before_stage_matches_task_gradients() -> None:
    model = small_leafnet()
    batch = random_batches(1, batch_size=6, image_size=16)[0]
    parameters = list(model.shared_parameters())
    expected = task_gradients(model, batch, parameters)

    recorder = TriadRecorder(every=1, curvature_every=None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    training_step(model, optimizer, batch, observer=recorder, step=0)
    frame = recorder.to_frame()

    assert set(frame["stage"]) == {"before"}
    for task in (0, 1):
        norm = values(frame, "grad_norm", layer="all", task=task)
        assert norm.item() == pytest.approx(expected[task].norm().item(), rel=1e-5)
    cosine = expected[0] @ expected[1] / (expected[0].norm() * expected[1].norm())
    assert values(frame, "cosine", layer="all").item() == pytest.approx(cosine.item(), rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("flags", [{}, {"modulation": True}, {"lass": True}])
def test_layers_add_up_to_whole(flags: dict) -> None:
    model = small_leafnet(**flags)
    if flags.get("lass"):
        set_masks(model, random_masks(model))
    frame = measure_triad(model, random_batches(1, batch_size=6, image_size=16)[0], projection=True, curvature=False)

    layers = set(frame["layer"]) - {"all"}
    assert layers == {"blocks.0.conv", "blocks.0.norm", "blocks.1.conv", "blocks.1.norm", "fully_connected.0"}
    for stage in ("before", "after"):
        rows = frame[frame["stage"] == stage]
        for quantity in ("squared_norm", *PAIR_SUMS):
            for task in (0, 1):
                selected = rows[(rows["quantity"] == quantity) & (rows["task"] == task)]
                whole = selected.loc[selected["layer"] == "all", "value"]
                parts = selected.loc[selected["layer"] != "all", "value"]
                if whole.empty:
                    continue  # pair quantities have task 0 only
                assert parts.sum() == pytest.approx(whole.item(), rel=1e-9, abs=1e-15), (stage, quantity, task)


def test_pcgrad_projection_removes_conflict() -> None:
    recorder = TriadRecorder(every=1, curvature_every=None)
    train_steps("E", recorder, steps=12, seed=3)
    frame = recorder.to_frame()

    before = values(frame, "cosine", layer="all", stage="before")
    after = values(frame, "cosine", layer="all", stage="after")
    assert len(before) == len(after) == 12
    assert (before < 0).any(), "the data must contain conflicting steps for this test to mean anything"
    assert (after >= -1e-6).all()
    assert values(frame, "conflict", layer="all", stage="after").sum() <= (after < 0).sum()


def test_pcgrad_stages_match_pcgrad() -> None:
    model = small_leafnet()
    batch = random_batches(1, batch_size=6, image_size=16)[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    pcgrad = PCGrad(optimizer, model.shared_parameters())
    recorder = TriadRecorder(every=1, curvature_every=None)

    training_step(model, optimizer, batch, pcgrad=pcgrad, observer=recorder, step=0)
    frame = recorder.to_frame()

    for stage, matrix in (("before", pcgrad.last_gradients), ("after", pcgrad.last_projected)):
        matrix = matrix.double()
        for task in (0, 1):
            norm = values(frame, "grad_norm", layer="all", stage=stage, task=task).item()
            assert norm == pytest.approx(matrix[task].norm().item(), rel=1e-9)
        dot = values(frame, "dot", layer="all", stage=stage).item()
        assert dot == pytest.approx((matrix[0] @ matrix[1]).item(), rel=1e-9, abs=1e-15)


def test_pcgrad_wrapper_mode_uses_shared_columns() -> None:
    model = small_leafnet()
    batch = random_batches(1, batch_size=6, image_size=16)[0]
    shared = list(model.shared_parameters())
    expected = task_gradients(model, batch, shared)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    pcgrad = PCGrad(optimizer, mode="wrapper")
    recorder = TriadRecorder(every=1, curvature_every=None)

    training_step(model, optimizer, batch, pcgrad=pcgrad, observer=recorder, step=0)
    frame = recorder.to_frame()

    assert pcgrad.last_gradients.shape[1] > sum(p.numel() for p in shared)
    for task in (0, 1):
        norm = values(frame, "grad_norm", layer="all", stage="before", task=task).item()
        assert norm == pytest.approx(expected[task].norm().item(), rel=1e-5)
    assert set(frame["stage"]) == {"before", "after"}


def test_lass_pairs_use_shared_weights() -> None:
    model = small_leafnet(lass=True)
    masks = random_masks(model, seed=1)
    set_masks(model, masks)
    batch = random_batches(1, batch_size=6, image_size=16)[0]
    layer = model.fully_connected[0]
    g = task_gradients(model, batch, [layer.weight])
    g = [gradient.view_as(layer.weight) for gradient in g]
    both = (masks["fully_connected.0"][0] & masks["fully_connected.0"][1]).double()

    frame = measure_triad(model, batch, curvature=False)
    rows = frame[frame["layer"] == "fully_connected.0"]

    bias = task_gradients(model, batch, [layer.bias])

    # A task's gradient is zero outside its own mask; its own norm covers all of the layer.
    assert torch.all(g[0][~masks["fully_connected.0"][0]] == 0)
    squared_norm_0 = (g[0] ** 2).sum().item() + (bias[0] @ bias[0]).item()
    assert values(rows, "squared_norm", task=0).item() == pytest.approx(squared_norm_0, rel=1e-5)
    # Pair quantities cover the weights both masks keep, and the bias, which is never masked.
    weight_only_i = ((g[0] * both) ** 2).sum().item()
    weight_only_j = ((g[1] * both) ** 2).sum().item()
    weight_dot = (g[0] * g[1] * both).sum().item()
    assert values(rows, "squared_norm_i").item() == pytest.approx(weight_only_i + (bias[0] @ bias[0]).item(), rel=1e-5)
    assert values(rows, "squared_norm_j").item() == pytest.approx(weight_only_j + (bias[1] @ bias[1]).item(), rel=1e-5)
    assert values(rows, "dot").item() == pytest.approx(weight_dot + (bias[0] @ bias[1]).item(), rel=1e-4, abs=1e-9)
    # Without the restriction the pair's squared norm would include weights only task 0 keeps.
    assert values(rows, "squared_norm_i").item() < values(rows, "squared_norm", task=0).item()


def test_three_tasks_have_every_pair() -> None:
    model = small_leafnet((3, 2, 4))
    batch = random_batches(1, batch_size=6, num_classes=(3, 2, 4), image_size=16)[0]
    expected = task_gradients(model, batch, list(model.shared_parameters()))

    recorder = TriadRecorder(every=1, curvature_every=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    pcgrad = PCGrad(optimizer, model.shared_parameters())
    training_step(model, optimizer, batch, pcgrad=pcgrad, observer=recorder, step=0)
    frame = recorder.to_frame()

    cosines = frame[(frame["quantity"] == "cosine") & (frame["layer"] == "all") & (frame["stage"] == "before")]
    assert sorted(zip(cosines["task"], cosines["task_j"])) == [(0, 1), (0, 2), (1, 2)]
    for task, task_j, value in zip(cosines["task"], cosines["task_j"], cosines["value"]):
        g_i, g_j = expected[task], expected[task_j]
        assert value == pytest.approx((g_i @ g_j / (g_i.norm() * g_j.norm())).item(), rel=1e-4, abs=1e-6)
    assert len(values(frame, "cosine", layer="all", stage="after")) == 3
    assert len(values(frame, "curvature")) == 1


def test_task_subset_needs_tasks_argument() -> None:
    model = small_leafnet()
    batch = random_batches(1, batch_size=4, image_size=16)[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

    with pytest.raises(ValueError, match="the step trains 1 of the batch's 2 tasks; pass tasks="):
        training_step(model, optimizer, batch, tasks=[1], observer=TriadRecorder(every=1), step=0)

    recorder = TriadRecorder(every=1, curvature_every=1, tasks=[1])
    training_step(model, optimizer, batch, tasks=[1], observer=recorder, step=0)
    frame = recorder.to_frame()
    assert set(values(frame, "grad_norm").index.map(frame["task"])) == {1}
    assert "cosine" not in set(frame["quantity"])
    assert len(values(frame, "curvature")) == 1


def test_recorder_reused_across_runs() -> None:
    recorder = TriadRecorder(every=1, curvature_every=None)
    recorder.context = {"approach": "E"}
    train_steps("E", recorder, steps=3)
    recorder.context = {"approach": "A"}
    train_steps("A", recorder, steps=3)
    frame = recorder.to_frame()

    steps = frame[(frame["quantity"] == "cosine") & (frame["layer"] == "all")].groupby("approach")["step"].nunique()
    assert steps.to_dict() == {"A": 3, "E": 3}
    stages = frame.groupby("approach")["stage"].unique()
    assert set(stages["E"]) == {"before", "after"}
    assert set(stages["A"]) == {"before"}


def test_csv_columns_and_context(tmp_path) -> None:
    recorder = TriadRecorder(every=1, curvature_every=2, context={"approach": "F", "repeat": 1, "fold": 4})
    train_steps("F", recorder, steps=3)

    path = recorder.write_csv(tmp_path)
    table = read_diagnostics(path)

    assert path == tmp_path / CSV_NAME
    assert tuple(table.columns) == COLUMNS
    assert set(table["approach"]) == {"F"}
    assert set(table["repeat"]) == {1}
    assert set(table["fold"]) == {4}
    assert set(table["stage"]) == {"before", "after"}
    assert table["task"].dtype == "Int64"
    assert table[table["quantity"] == "curvature"]["task"].isna().all()
    pd.testing.assert_frame_equal(table, recorder.to_frame(), check_exact=False)


def test_csv_append_and_extra_context(tmp_path) -> None:
    path = tmp_path / "run" / CSV_NAME
    recorder = TriadRecorder(every=1, curvature_every=None, context={"approach": "A", "repeat": 0, "fold": 0, "seed": 7})
    train_steps("A", recorder)
    recorder.write_csv(path)
    rows = recorder.num_rows
    recorder.clear()
    assert recorder.num_rows == 0

    train_steps("A", recorder)
    recorder.write_csv(path, append=True)
    table = read_diagnostics(path)

    assert list(table.columns) == [*COLUMNS[:3], "seed", *COLUMNS[3:]]
    assert len(table) == 2 * rows
    assert set(table["seed"]) == {7}


def test_csv_append_rejects_other_columns(tmp_path) -> None:
    first = TriadRecorder(every=1, curvature_every=None, context={"approach": "A", "seed": 1})
    train_steps("A", first)
    first.write_csv(tmp_path)
    second = TriadRecorder(every=1, curvature_every=None, context={"approach": "A"})
    train_steps("A", second)

    with pytest.raises(ValueError, match="cannot append to .*: its columns"):
        second.write_csv(tmp_path, append=True)


def test_empty_recorder_frame() -> None:
    frame = TriadRecorder().to_frame()
    assert tuple(frame.columns) == COLUMNS
    assert frame.empty


def test_measure_triad_leaves_model_unchanged() -> None:
    model = small_leafnet(modulation=True)
    model.eval()
    model.blocks[0].norm.train()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    rng = torch.get_rng_state()

    frame = measure_triad(model, random_batches(1, batch_size=4, image_size=16)[0], projection=True, context={"approach": "C"})

    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert all(p.grad is None for p in model.parameters())
    assert not model.training
    assert model.blocks[0].norm.training
    assert not model.blocks[1].norm.training
    assert torch.equal(torch.get_rng_state(), rng)
    assert set(frame["approach"]) == {"C"}
    assert set(frame["step"]) == {0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every": 0}, "every must be a positive int, got 0"),
        ({"curvature_every": 2.5}, "curvature_every must be a positive int, got 2.5"),
        ({"quadrature_points": 0}, "quadrature_points must be a positive int"),
        ({"lr": -1.0}, "lr must be a finite number >= 0"),
        ({"context": {"step": 3}}, "context key .step. is invalid because the recorder fills that column"),
        ({"context": ["A"]}, "context must be a dict"),
    ],
)
def test_recorder_rejects_invalid_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TriadRecorder(**kwargs)


def test_generic_model_needs_parameters() -> None:
    with pytest.raises(ValueError, match="DropoutNet has no shared_parameters\\(\\); pass parameters="):
        measure_triad(DropoutNet(), dropout_batches(1)[0])


def test_foreign_parameters_are_rejected() -> None:
    other = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="that is not a parameter of DropoutNet"):
        measure_triad(DropoutNet(), dropout_batches(1)[0], parameters=other.parameters())


def test_missing_before_backward_is_logged(caplog) -> None:
    recorder = TriadRecorder(every=1)
    with caplog.at_level(logging.WARNING, logger="mtllib.diagnostics"):
        recorder.after_backward(3, 0, small_leafnet(), None)
    assert "after_backward came without before_backward" in caplog.text
    assert recorder.num_rows == 0
