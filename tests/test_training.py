from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from mtllib import APPROACHES, TrainConfig, build_model, evaluate, fit, get_approach, training_step
from mtllib.approaches import parse_approaches
from mtllib.lass import find_masks, set_masks
from mtllib.pcgrad import PCGrad

from methods_helpers import random_batches

SMALL = {"channels": (4, 8), "hidden": (16, 8)}


def test_approach_table() -> None:
    table = {letter: (a.pcgrad, a.modulation, a.lass) for letter, a in APPROACHES.items()}
    assert table == {
        "A": (False, False, False),
        "B": (False, False, True),
        "C": (False, True, False),
        "D": (False, True, True),
        "E": (True, False, False),
        "F": (True, False, True),
        "G": (True, True, False),
        "H": (True, True, True),
    }


def test_approach_labels() -> None:
    assert APPROACHES["A"].label == "A: baseline"
    assert APPROACHES["H"].label == "H: PCGrad + Modulation + LaSS"


def test_get_approach_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="approach must be one of A, B, C, D, E, F, G, H, got 'Z'"):
        get_approach("Z")


def test_parse_approaches_keeps_order() -> None:
    assert [a.letter for a in parse_approaches("f, a,F,h")] == ["F", "A", "H"]


def step_model(letter: str, masked: bool):
    approach = get_approach(letter)
    config = TrainConfig(**SMALL)
    model = build_model(approach, (12, 2), config)
    batches = random_batches(2, batch_size=8)
    if approach.lass and masked:
        set_masks(model, find_masks(model, batches[:1], None, 0.5, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pcgrad = PCGrad(optimizer, model.shared_parameters()) if approach.pcgrad else None
    return model, optimizer, pcgrad, batches[1]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("letter", list(APPROACHES))
def test_one_step_changes_every_shared_parameter(letter: str, masked: bool) -> None:
    model, optimizer, pcgrad, batch = step_model(letter, masked)
    before = [p.detach().clone() for p in model.shared_parameters()]

    losses = training_step(model, optimizer, batch, pcgrad=pcgrad)

    assert losses.shape == (2,)
    for parameter, old in zip(model.shared_parameters(), before):
        assert not torch.equal(parameter.detach(), old)


@pytest.mark.parametrize("letter", list(APPROACHES))
def test_seeded_run_is_repeatable(letter: str) -> None:
    config = TrainConfig(epochs=2, lass_switch_epoch=1, lass_finetune_epochs=1, **SMALL)
    states = []
    for _ in range(2):
        model = build_model(letter, (12, 2), config)
        fit(model, random_batches(2, batch_size=8), letter, config)
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_lass_switches_to_masks() -> None:
    config = TrainConfig(epochs=3, lass_switch_epoch=1, lass_finetune_epochs=1, **SMALL)
    model = build_model("B", (12, 2), config)
    result = fit(model, random_batches(2, batch_size=8), "B", config)

    assert model.has_masks
    assert [log.phase for log in result.history] == ["joint", "masked", "masked"]
    assert result.history[1].mask_search_seconds > 0
    assert set(result.mask_overlap.layer) == {"fully_connected.0", "fully_connected.1", "all"}


def test_fit_reports_each_epoch() -> None:
    config = TrainConfig(epochs=2, **SMALL)
    seen = []
    result = fit(build_model("A", (12, 2), config), random_batches(1), "A", config, on_epoch=seen.append)
    assert [log.epoch for log in seen] == [0, 1]
    assert seen == result.history
    assert all(len(log.losses) == 2 for log in seen)


def test_fit_rejects_lass_without_masked_layers() -> None:
    config = TrainConfig(epochs=1, **SMALL)
    with pytest.raises(ValueError, match="uses LaSS but the model has no MaskedLinear layers"):
        fit(build_model("A", (12, 2), config), random_batches(1), "B", config)


def test_build_model_leaves_global_rng() -> None:
    state = torch.get_rng_state()
    build_model("H", (12, 2), TrainConfig(**SMALL))
    assert torch.equal(torch.get_rng_state(), state)


def test_single_task_training() -> None:
    config = TrainConfig(epochs=1, **SMALL)
    model = build_model("A", (2,), config)
    batches = [(x, (targets[1],)) for x, targets in random_batches(2)]
    result = fit(model, batches, "A", config)
    assert len(result.history[0].losses) == 1


def test_evaluate_matches_sklearn() -> None:
    config = TrainConfig(**SMALL)
    model = build_model("A", (12, 2), config)
    batches = random_batches(3, batch_size=10)
    scores = evaluate(model, batches)

    model.eval()
    with torch.no_grad():
        outputs = [model.forward_all(x) for x, _ in batches]
    for task in range(2):
        predictions = np.concatenate([o[task].argmax(1).numpy() for o in outputs])
        targets = np.concatenate([t[task].numpy() for _, t in batches])
        assert scores[task]["accuracy"] == pytest.approx(float((predictions == targets).mean()))
        assert scores[task]["f1"] == pytest.approx(f1_score(targets, predictions, average="weighted", zero_division=0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive int, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive int"),
        ({"lr": -1.0}, "lr must be a positive finite number"),
        ({"lass_alpha": 1.0}, "alpha must be a number in"),
        ({"epochs": 10, "lass_switch_epoch": 11}, r"lass_switch_epoch must be an int in \[0, epochs=10\]"),
        ({"lass_finetune_epochs": -1}, "lass_finetune_epochs must be an int >= 0"),
        ({"pcgrad_mode": "all"}, "pcgrad_mode must be 'shared' or 'wrapper'"),
    ],
)
def test_config_rejects_invalid(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_default_switch_is_half() -> None:
    assert TrainConfig(epochs=100).switch_epoch == 50
