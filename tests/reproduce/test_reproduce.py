"""The reproduce command end to end, with the smoke profile on procedural leaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from mtllib.__main__ import main

LETTERS = list("ABCDEFGH")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def smoke_environment(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTLLIB_CACHE", str(cache_dir))
    monkeypatch.setenv("MTLLIB_PROFILE", "smoke")


def reproduce(*arguments: str) -> int:
    return main(["--log-level", "WARNING", "reproduce", "--profile", "smoke", "--device", "cpu", *arguments])


@pytest.fixture(scope="module")
def full_run_output(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, str, str]:
    # A relative --out, as users type it: papermill runs each notebook with the output folder
    # as working directory, and nothing may depend on the working directory staying put.
    folder = tmp_path_factory.mktemp("full")
    environment = {**os.environ, "MTLLIB_CACHE": str(cache_dir), "MTLLIB_PROFILE": "smoke"}
    completed = subprocess.run(
        [sys.executable, "-m", "mtllib", "reproduce", "--profile", "smoke", "--device", "cpu", "--out", "out"],
        capture_output=True, text=True, env=environment, timeout=1200, cwd=folder,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return folder / "out", completed.stdout, completed.stderr


@pytest.fixture(scope="module")
def full_run(full_run_output: tuple[Path, str, str]) -> tuple[Path, str]:
    return full_run_output[:2]


def test_full_run_writes_every_file(full_run: tuple[Path, str]) -> None:
    out, _ = full_run
    for name in ("config.json", "manifest.json", "folds.csv", "metrics.csv", "epochs.csv", "summary.csv", "statistics.csv"):
        assert (out / name).is_file(), name
    notebooks = sorted(path.stem for path in (out / "notebooks").glob("*.ipynb"))
    assert notebooks == sorted(LETTERS + ["single"])


def test_full_run_summary_layout(full_run: tuple[Path, str]) -> None:
    summary = pd.read_csv(full_run[0] / "summary.csv", index_col="approach")
    assert list(summary.index) == LETTERS + ["single-task"]
    for score in ("species_accuracy", "species_f1", "health_accuracy", "health_f1", "mean_accuracy", "mean_f1"):
        assert f"{score}_mean" in summary.columns
        assert f"{score}_std" in summary.columns
    assert (summary["splits"] == 2).all()
    assert summary.loc[LETTERS, "mean_f1_mean"].between(0, 1).all()


def test_full_run_metrics_rows(full_run: tuple[Path, str]) -> None:
    metrics = pd.read_csv(full_run[0] / "metrics.csv")
    assert len(metrics) == (8 * 2 + 2) * 2
    assert set(metrics.columns) >= {"approach", "repeat", "fold", "task", "accuracy", "f1"}
    assert metrics["accuracy"].between(0, 1).all()


def test_full_run_statistics(full_run: tuple[Path, str]) -> None:
    statistics = pd.read_csv(full_run[0] / "statistics.csv")
    assert list(statistics.columns) == [
        "test", "metric", "approach", "reference", "mean_difference", "statistic", "degrees_of_freedom", "p_value",
    ]
    against_a = statistics[(statistics.test == "corrected t-test") & (statistics.reference.str.startswith("A"))]
    assert set(against_a.metric) == {"mean_accuracy", "mean_f1", "species_f1", "health_f1"}
    assert len(against_a[against_a.metric == "mean_f1"]) == 7
    assert (statistics.test == "Friedman").sum() == 4
    assert statistics["p_value"].dropna().between(0, 1).all()


def test_full_run_manifest(full_run: tuple[Path, str]) -> None:
    out = full_run[0]
    manifest = json.loads((out / "manifest.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert manifest["packages"]["torch"] == torch.__version__.split("+")[0] or manifest["packages"]["torch"].startswith(torch.__version__.split("+")[0])
    assert manifest["data"]["fingerprint"] == config["data_fingerprint"]
    assert manifest["device"]["device"] == "cpu"
    assert manifest["config"]["train"]["epochs"] == 2
    assert "commit" in manifest["git"]
    folds = pd.read_csv(out / "folds.csv")
    assert sorted(folds["repeat_0"].unique()) == [0, 1]


def test_full_run_logs_every_finished_unit(full_run_output: tuple[Path, str, str]) -> None:
    out, _, log = full_run_output
    units = len(list((out / "runs").glob("*/*.json")))

    assert units > 0
    assert f"Finished A r0 f0 (1 of {units})" in log
    assert f"({units} of {units})" in log


def test_full_run_leaves_no_kernel_sockets(full_run: tuple[Path, str]) -> None:
    out = full_run[0]
    assert [path.name for path in out.iterdir() if path.is_socket()] == []


def test_full_run_prints_table_beside_paper(full_run: tuple[Path, str]) -> None:
    stdout = full_run[1]
    assert "mean F1 (paper)" in stdout
    assert "F: PCGrad + LaSS" in stdout
    assert "0.847" in stdout


def unit_files(out: Path) -> dict[Path, tuple[int, str]]:
    return {path: (path.stat().st_mtime_ns, path.read_text()) for path in (out / "runs").glob("*/*.json")}


def test_rerun_recomputes_nothing_finished(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert reproduce("--approaches", "A", "--no-single-task", "--out", str(out)) == 0
    finished = unit_files(out)
    assert len(finished) == 2

    lost = out / "runs" / "A" / "r0-f1.json"
    lost.unlink()
    assert reproduce("--approaches", "A", "--no-single-task", "--out", str(out)) == 0

    after = unit_files(out)
    kept = out / "runs" / "A" / "r0-f0.json"
    assert after[kept] == finished[kept]
    assert lost.exists()


def test_resume_after_interruption(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    environment = {**os.environ, "MTLLIB_CACHE": str(cache_dir)}
    command = [sys.executable, "-m", "mtllib", "reproduce", "--profile", "smoke", "--device", "cpu", "--approaches", "A,B", "--no-single-task", "--out", str(out)]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list((out / "runs").glob("*/*.json")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode in (0, 130), stderr[-2000:]

    finished = unit_files(out)
    assert finished, "no unit finished before the interruption"
    assert reproduce("--approaches", "A,B", "--no-single-task", "--out", str(out)) == 0
    after = unit_files(out)
    assert len(after) == 4
    for path, state in finished.items():
        assert after[path] == state


def test_configuration_mismatch_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert reproduce("--approaches", "A", "--no-single-task", "--out", str(out)) == 0
    before = unit_files(out)
    capsys.readouterr()

    assert reproduce("--approaches", "A", "--no-single-task", "--seed", "1", "--out", str(out)) == 2

    error = capsys.readouterr().err
    assert "seed: 0 -> 1" in error
    assert "--out" in error
    assert unit_files(out) == before


def test_mismatch_refused_before_data_load(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert reproduce("--approaches", "A", "--no-single-task", "--out", str(out)) == 0
    capsys.readouterr()

    def fail_to_load(*arguments: object, **keywords: object) -> None:
        raise AssertionError("the data were loaded before the settings were compared")

    monkeypatch.setattr("mtllib.reproduce._prepare.load_study_data", fail_to_load)
    assert reproduce("--approaches", "A", "--no-single-task", "--folds", "3", "--out", str(out)) == 2

    assert "folds: 2 -> 3" in capsys.readouterr().err


def test_more_approaches_added_to_same_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert reproduce("--approaches", "A", "--no-single-task", "--out", str(out)) == 0
    assert reproduce("--approaches", "A,E", "--no-single-task", "--out", str(out)) == 0
    summary = pd.read_csv(out / "summary.csv", index_col="approach")
    assert list(summary.index) == ["A", "E"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--approaches", "A,Z"], "approach must be one of A, B, C, D, E, F, G, H, got 'Z'"),
        (["--approaches", ""], "approaches must list letters"),
        (["--folds", "1"], "--folds must be at least 2, got 1"),
        (["--repeats", "0"], "--repeats must be at least 1, got 0"),
        (["--profile", "fast"], "profile must be one of paper, quick, smoke, got 'fast'"),
        (["--device", "tpu"], "device must be auto, cpu or cuda, got 'tpu'"),
        (["--pcgrad-mode", "all"], "--pcgrad-mode must be shared or wrapper"),
        (["--data", "/nonexistent/leaves"], "is not a folder"),
    ],
)
def test_bad_argument_stops_before_training(arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = main(["reproduce", "--device", "cpu", "--out", str(out), *arguments])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_data_folder_without_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here")
    out = tmp_path / "out"
    assert reproduce("--data", str(empty), "--out", str(out)) == 2
    error = capsys.readouterr().err
    assert str(empty) in error or "photos" in error
    assert "layout" in error
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["reproduce", "--device", "cuda", "--out", str(tmp_path / "out")])
    assert status == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err
