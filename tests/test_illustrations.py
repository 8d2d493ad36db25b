from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mtllib import LeafNet, illustrations  # noqa: E402
from mtllib.data import LEAF_CLASSES, LeafData  # noqa: E402
from mtllib.lass import mask_overlap  # noqa: E402

from methods_helpers import random_batches  # noqa: E402

# Tiny networks keep the training tests to seconds; TrainConfig fields, passed to train_fold.
TINY = {"channels": (4, 4, 4, 4), "hidden": (8, 8), "epochs": 2, "lass_switch_epoch": 1}


def coloured_leaves(per_class: int = 4, image_size: int = 64, seed: int = 0) -> LeafData:
    """Images with a bright square whose place is the species and whose colour is the health.

    A linear model on pixels separates these classes.
    """
    generator = torch.Generator().manual_seed(seed)
    side = image_size // 4
    images, species, health, files = [], [], [], []
    for leaf_class in LEAF_CLASSES:
        row, column = divmod(leaf_class.species, 4)
        for index in range(per_class):
            image = torch.randint(0, 20, (3, image_size, image_size), generator=generator)
            channel = 1 if leaf_class.health == 0 else 0
            image[channel, row * side : (row + 1) * side, column * side : (column + 1) * side] += 200
            images.append(image.to(torch.uint8))
            species.append(leaf_class.species)
            health.append(leaf_class.health)
            files.append(f"{leaf_class.prefix:04d}_{index + 1:04d}")
    return LeafData(torch.stack(images), torch.tensor(species), torch.tensor(health), tuple(files), source="test")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def leaves() -> LeafData:
    return coloured_leaves()


@pytest.fixture(scope="module")
def lass_runs(leaves: LeafData) -> tuple[pd.DataFrame, dict]:
    return illustrations.alpha_sweep(leaves, [0.0, 0.5], profile="smoke", **TINY)


# --- Leaf data ----------------------------------------------------------------------------------


def test_class_table_counts() -> None:
    table = illustrations.class_count_table()
    assert len(table) == 22
    assert table["photos"].sum() == 4503
    assert (table["procedural"] == table["photos"]).all()
    assert table["prefix"].tolist() == [f"{prefix:04d}" for prefix in range(1, 23)]


def test_class_table_missing_pairs() -> None:
    table = illustrations.class_count_table()
    pairs = set(zip(table["species"], table["health"]))
    assert ("Bael", "healthy") not in pairs
    assert ("Basil", "diseased") not in pairs


def test_limit_per_class_keeps_first(leaves: LeafData) -> None:
    limited = illustrations.limit_per_class(leaves, 2)
    assert len(limited) == 44
    assert limited.files[:2] == ("0001_0001", "0001_0002")
    assert illustrations.limit_per_class(leaves, None) is leaves


def test_limit_per_class_rejects_zero(leaves: LeafData) -> None:
    with pytest.raises(ValueError, match="limit must be a positive int"):
        illustrations.limit_per_class(leaves, 0)


def test_sample_grid_layout(leaves: LeafData) -> None:
    figure = illustrations.plot_sample_grid(leaves, per_class=2)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 12 * 4
    with_image = sum(1 for ax in figure.axes if ax.images)
    assert with_image == 22 * 2
    texts = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert texts.count("no class") == 2


def test_letterbox_geometry_of_drawing() -> None:
    example = illustrations.letterbox_example(12, 0, image_size=64)
    assert example.drawing.size == (192, 128)
    assert example.boxed.size == (64, 64)
    assert (example.scaled_width, example.scaled_height, example.left, example.top) == (64, 43, 0, 10)


def test_letterbox_padding_is_black() -> None:
    example = illustrations.letterbox_example(3, 1, image_size=64)
    pixels = np.asarray(example.boxed)
    bottom = example.top + example.scaled_height
    assert pixels[: example.top].max() == 0
    assert pixels[bottom:].max() == 0
    assert pixels[example.top : bottom].max() > 0
    assert isinstance(illustrations.plot_letterbox_example(example), Figure)


def test_pixel_baseline_separable(leaves: LeafData) -> None:
    table = illustrations.pixel_baseline(leaves, pixels=8)
    assert list(table.columns) == ["task", "classifier", "accuracy", "train_images", "test_images"]
    logistic = table[table["classifier"].str.startswith("logistic")].set_index("task")["accuracy"]
    majority = table[table["classifier"] == "majority class"].set_index("task")["accuracy"]
    assert logistic["species"] == 1.0
    assert logistic["health"] == 1.0
    assert majority["species"] < 0.2
    assert (table["train_images"] + table["test_images"] == len(leaves)).all()


def test_pixel_baseline_rejects_large_size(leaves: LeafData) -> None:
    with pytest.raises(ValueError, match="pixels must be an int in"):
        illustrations.pixel_baseline(leaves, pixels=65)


# --- PCGrad -------------------------------------------------------------------------------------


def test_pcgrad_2d_reference_vectors() -> None:
    vectors = illustrations.pcgrad_2d([1.0, 0.0], [-1.0, 1.0])
    np.testing.assert_array_equal(vectors["g1_projected"], [0.5, 0.5])
    np.testing.assert_array_equal(vectors["g2_projected"], [0.0, 1.0])
    np.testing.assert_array_equal(vectors["pcgrad_sum"], [0.5, 1.5])
    np.testing.assert_array_equal(vectors["sum"], [0.0, 1.0])


def test_pcgrad_2d_no_conflict_unchanged() -> None:
    vectors = illustrations.pcgrad_2d([1.0, 0.0], [1.0, 1.0])
    np.testing.assert_array_equal(vectors["g1_projected"], vectors["g1"])
    np.testing.assert_array_equal(vectors["pcgrad_sum"], [2.0, 1.0])


def test_pcgrad_2d_rejects_3d() -> None:
    with pytest.raises(ValueError, match="2-D vectors"):
        illustrations.pcgrad_2d([1.0, 0.0, 0.0], [0.0, 1.0, 0.0])


def test_plot_pcgrad_2d_panels() -> None:
    figure = illustrations.plot_pcgrad_2d({"a": ([1, 0], [-1, 1]), "b": ([1, 0], [1, 1])})
    assert len(figure.axes) == 2
    assert figure.axes[0].get_xlim() == figure.axes[1].get_xlim()


def small_model(seed: int = 0) -> LeafNet:
    torch.manual_seed(seed)
    return LeafNet(channels=(4, 8), hidden=(16,), image_size=16)


def conflicting_batch(model: LeafNet):
    batches = random_batches(40, batch_size=8, image_size=16, seed=1)
    batch, cosine, examined = illustrations.find_conflicting_batch(model, batches, max_batches=40)
    assert cosine < 0, "no conflicting batch among 40 random ones"
    return batch


def test_find_conflicting_batch_counts() -> None:
    model = small_model()
    batches = random_batches(40, batch_size=8, image_size=16, seed=1)
    _, cosine, examined = illustrations.find_conflicting_batch(model, batches, max_batches=40)
    assert cosine < 0
    assert 1 <= examined <= 40


def test_find_conflicting_batch_empty() -> None:
    with pytest.raises(ValueError, match="at least one batch"):
        illustrations.find_conflicting_batch(small_model(), [])


def test_shared_mode_removes_conflict() -> None:
    model = small_model()
    table = illustrations.compare_pcgrad_modes(model, conflicting_batch(model))
    row = table.loc[illustrations.MODE_LABELS["shared"]]
    assert row["cosine_before"] < 0
    assert abs(row["cosine_0_after"]) < 1e-4
    assert abs(row["cosine_1_after"]) < 1e-4
    assert row["head_change_0"] == 0.0
    assert row["head_change_1"] == 0.0


def test_wrapper_mode_leaks_into_heads() -> None:
    model = small_model()
    table = illustrations.compare_pcgrad_modes(model, conflicting_batch(model))
    row = table.loc[illustrations.MODE_LABELS["wrapper"]]
    assert row["head_change_0"] > 0
    assert row["head_change_1"] > 0
    # The heads' squared norms enlarge the denominators, so part of the conflict stays.
    assert row["cosine_0_after"] < -1e-6
    assert row["cosine_1_after"] < -1e-6
    assert row["cosine_0_after"] > row["cosine_before"]


def test_modes_leave_model_untouched() -> None:
    model = small_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    illustrations.compare_pcgrad_modes(model, conflicting_batch(model))
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]), name
        assert parameter.grad is None, name


def test_mode_comparison_rejects_modulation() -> None:
    model = LeafNet(channels=(4, 8), hidden=(16,), image_size=16, modulation=True)
    with pytest.raises(ValueError, match="no Modulation Module"):
        illustrations.compare_pcgrad_modes(model, random_batches(1, image_size=16)[0])


def test_modes_over_batches_and_plot() -> None:
    model = small_model()
    batches = random_batches(40, batch_size=8, image_size=16, seed=1)
    frame = illustrations.compare_pcgrad_modes_over_batches(model, batches, max_batches=6)
    assert len(frame) == 12
    assert frame["batch"].tolist() == [index for index in range(6) for _ in range(2)]
    assert (frame["cosine_before"] < 0).any(), "no conflicting batch among the first 6"
    assert isinstance(illustrations.plot_pcgrad_modes(frame), Figure)


def test_plot_modes_needs_conflict() -> None:
    model = small_model()
    frame = illustrations.compare_pcgrad_modes_over_batches(model, random_batches(2, batch_size=8, image_size=16))
    frame["cosine_before"] = frame["cosine_before"].abs()
    with pytest.raises(ValueError, match="conflict"):
        illustrations.plot_pcgrad_modes(frame)


# --- Modulation Module ---------------------------------------------------------------------------


def test_parameter_counts_default() -> None:
    counts = illustrations.parameter_counts()
    assert counts.loc["LeafNet + Modulation", "modulation"] == 2 * (16 + 32 + 64 + 128)
    assert counts.loc["LeafNet", "modulation"] == 0
    for model in counts.index:
        row = counts.loc[model]
        assert row["total"] == row["shared"] + row["heads"] + row["modulation"]
    assert counts.loc["LeafNet", "total"] == sum(p.numel() for p in LeafNet().parameters())


def test_trunk_passes_double_with_modulation() -> None:
    x = torch.rand(2, 3, 16, 16)
    plain = LeafNet(channels=(4, 8), hidden=(8,), image_size=16)
    modulated = LeafNet(channels=(4, 8), hidden=(8,), image_size=16, modulation=True)
    assert illustrations.trunk_passes(plain, x) == 1
    assert illustrations.trunk_passes(modulated, x) == 2


def test_trunk_passes_keep_statistics() -> None:
    model = LeafNet(channels=(4, 8), hidden=(8,), image_size=16, modulation=True)
    before = model.blocks[0].norm.running_mean.clone()
    illustrations.trunk_passes(model, torch.rand(2, 3, 16, 16) + 5.0)
    assert torch.equal(model.blocks[0].norm.running_mean, before)
    assert model.training


def test_forward_seconds_per_model() -> None:
    model = LeafNet(channels=(4, 8), hidden=(8,), image_size=16)
    seconds = illustrations.forward_seconds({"a": model, "b": model}, torch.rand(2, 3, 16, 16), repeats=2)
    assert list(seconds) == ["a", "b"]
    assert all(value > 0 for value in seconds.values())
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        illustrations.forward_seconds({"a": model}, torch.rand(2, 3, 16, 16), repeats=0)


def test_modulation_scales_table() -> None:
    model = LeafNet(channels=(4, 8), hidden=(8,), image_size=16, modulation=True)
    with torch.no_grad():
        model.blocks[1].modulation.weight[1, 3] = 2.5
    scales = illustrations.modulation_scales(model)
    assert len(scales) == 2 * (4 + 8)
    assert set(scales["task"]) == {"species", "health"}
    changed = scales[(scales["block"] == 2) & (scales["task"] == "health") & (scales["channel"] == 3)]
    assert changed["scale"].tolist() == [2.5]
    assert (scales.drop(changed.index)["scale"] == 1.0).all()


def test_modulation_scales_need_modulation() -> None:
    with pytest.raises(ValueError, match="no Modulation Modules"):
        illustrations.modulation_scales(LeafNet(channels=(4, 8), hidden=(8,), image_size=16))


def test_modulation_plots() -> None:
    model = LeafNet(channels=(4, 8), hidden=(8,), image_size=16, modulation=True)
    scales = illustrations.modulation_scales(model)
    heatmaps = illustrations.plot_modulation_heatmaps(scales)
    assert sum(1 for ax in heatmaps.axes if ax.get_title().startswith("block")) == 2
    assert isinstance(illustrations.plot_scale_distribution(scales), Figure)


# --- LaSS ---------------------------------------------------------------------------------------


def test_random_overlap_half_density() -> None:
    shared, iou = illustrations.random_overlap(0.5, 0.5)
    assert shared == 0.25
    assert math.isclose(iou, 1 / 3)


def test_random_overlap_edges() -> None:
    assert illustrations.random_overlap(1.0, 1.0) == (1.0, 1.0)
    assert illustrations.random_overlap(0.0, 0.0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="kept_i must be a fraction"):
        illustrations.random_overlap(1.5, 0.5)


def test_random_overlap_matches_sampling() -> None:
    generator = torch.Generator().manual_seed(0)
    masks = {"layer": torch.rand(2, 300, 300, generator=generator) < 0.5}
    table = illustrations.overlap_with_random(mask_overlap(masks))
    row = table.iloc[0]
    assert abs(row["shared"] - row["random_shared"]) < 0.01
    assert abs(row["iou"] - row["random_iou"]) < 0.01


def test_mask_plots() -> None:
    masks = torch.zeros(2, 4, 6, dtype=torch.bool)
    masks[0, :2] = True
    masks[1, :, :3] = True
    overlap = mask_overlap({"fc": masks})
    assert isinstance(illustrations.plot_mask_overlap(overlap), Figure)
    figure = illustrations.plot_mask_agreement(masks, rows=4, columns=6)
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    # Rows 0-1 kept by task 0, columns 0-2 by task 1: 6 both, 6 first only, 6 second only, 6 neither.
    assert labels == ["both (25%)", "species only (25%)", "health only (25%)", "neither (25%)"]


def test_mask_agreement_needs_two_tasks() -> None:
    with pytest.raises(ValueError, match=r"masks must have shape \(2, out, in\)"):
        illustrations.plot_mask_agreement(torch.ones(3, 2, 2, dtype=torch.bool))


def test_outside_mask_drift_restored() -> None:
    table = illustrations.outside_mask_drift()
    plain = table.loc["plain Adam step"]
    kept = table.loc["Adam step inside keep_outside_masks"]
    assert plain["changed_outside"] > 0.5
    assert plain["max_change_outside"] > 0
    assert kept["changed_outside"] == 0.0
    assert kept["max_change_outside"] == 0.0
    assert kept["changed_inside"] > 0.5


def test_alpha_sweep_table(lass_runs) -> None:
    sweep, runs = lass_runs
    assert sorted(runs) == [0.0, 0.5]
    assert list(sweep.columns) == ["alpha", "task", "accuracy", "f1", "kept_fraction", "iou"]
    assert len(sweep) == 4
    by_alpha = sweep.drop_duplicates("alpha").set_index("alpha")
    assert by_alpha.loc[0.0, "kept_fraction"] == 1.0
    assert by_alpha.loc[0.0, "iou"] == 1.0
    assert abs(by_alpha.loc[0.5, "kept_fraction"] - 0.5) < 0.01
    assert isinstance(illustrations.plot_alpha_sweep(sweep), Figure)


def test_alpha_sweep_reuses_runs(leaves: LeafData, lass_runs) -> None:
    _, runs = lass_runs
    again, reused = illustrations.alpha_sweep(leaves, [0.5], profile="smoke", runs={0.5: runs[0.5]}, **TINY)
    assert reused[0.5] is runs[0.5]
    assert len(again) == 2


def test_fold_tables_and_losses(lass_runs) -> None:
    _, runs = lass_runs
    table = illustrations.fold_scores_table({"B, alpha 0.5": runs[0.5]})
    assert list(table.columns) == ["run", "approach", "task", "accuracy", "f1", "last_training_loss", "training_seconds"]
    assert table["task"].tolist() == ["species", "health"]
    figure = illustrations.plot_fold_losses({"B": runs[0.5]})
    # The LaSS switch to masks at epoch 2 is marked between epochs 1 and 2.
    assert [ax.get_title() for ax in figure.axes] == ["species", "health"]
    for ax in figure.axes:
        assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [1.5]
