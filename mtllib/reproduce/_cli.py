"""``python -m mtllib reproduce``: the whole study from one command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ..approaches import APPROACHES, parse_approaches
from ..profiles import PROFILES, default_profile_name, get_profile
from ._prepare import prepare_study
from ._results import comparison_table, write_results
from ._study import ConfigurationMismatch, StudyConfig
from ._units import Unit, expand_run_ids, pending_units, plan_units, resolve_device

__all__ = ["add_arguments", "experiment_notebook", "run"]

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """An invalid argument, found before any training."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``reproduce`` to ``parser``."""
    parser.add_argument(
        "--profile",
        help=f"training protocol: {', '.join(f'{p.name} ({p.description})' for p in PROFILES.values())}; "
        "default paper on a GPU, quick on a CPU",
    )
    parser.add_argument("--data", default="procedural", help="'procedural' (default) or the folder of the leaf photos")
    parser.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    parser.add_argument("--approaches", default=",".join(APPROACHES), help="comma-separated letters A-H to train (default all)")
    parser.add_argument("--folds", type=int, help="number of cross-validation folds k >= 2 (default the profile's)")
    parser.add_argument("--repeats", type=int, default=1, help="times the k-fold split is redrawn with a new seed (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds and initial weights (default 0)")
    parser.add_argument("--out", help="output folder (default results/<profile>-<data>)")
    parser.add_argument("--diagnostics", action="store_true", help="record the tragic triad (gradient conflict) during training")
    parser.add_argument("--no-single-task", action="store_true", help="skip the two single-task reference models")
    parser.add_argument("--pcgrad-mode", default="shared", help="shared (default, the rule of Yu et al.) or wrapper")
    parser.add_argument("--cache-dir", help="folder for decoded images (default $MTLLIB_CACHE or ~/.cache/mtllib)")


def experiment_notebook() -> Path:
    """Return the path of the parameterised experiment notebook that papermill runs."""
    packaged = Path(str(resources.files("mtllib") / "notebooks" / "experiment.ipynb"))
    if packaged.exists():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "chapters" / "experiment.ipynb"
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"the experiment notebook is missing from {packaged} and {checkout}; reinstall mtllib")


def _validate(args: argparse.Namespace) -> tuple[str, list[str], torch.device, Path]:
    """Check every argument before anything is loaded or trained."""
    try:
        device = resolve_device(args.device)
        profile = args.profile or default_profile_name(str(device))
        get_profile(profile)
        approaches = [approach.letter for approach in parse_approaches(args.approaches)]
    except ValueError as error:
        raise UsageError(str(error)) from error

    if args.folds is not None and args.folds < 2:
        raise UsageError(f"--folds must be at least 2, got {args.folds}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    if args.pcgrad_mode not in ("shared", "wrapper"):
        raise UsageError(f"--pcgrad-mode must be shared or wrapper, got {args.pcgrad_mode!r}")
    if args.data != "procedural":
        path = Path(args.data).expanduser()
        if not path.is_dir():
            raise UsageError(f"--data must be 'procedural' or a folder of leaf photos; {args.data!r} is not a folder")

    data_name = "procedural" if args.data == "procedural" else "photos"
    out_dir = Path(args.out) if args.out else Path("results") / f"{profile}-{data_name}"
    return profile, approaches, device, out_dir


class _ProgressMonitor:
    """Follow the units' result and progress files and move a progress bar over epochs."""

    def __init__(self, out_dir: Path, units: list[Unit], epochs: int, bar: tqdm) -> None:
        # Absolute, because papermill changes the working directory while a notebook runs.
        self.out_dir = out_dir.resolve()
        self.units = units
        self.epochs = epochs
        self.bar = bar
        self.finished: set[Unit] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _ProgressMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.refresh()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.refresh()

    def refresh(self) -> None:
        in_progress = {}
        for path in (self.out_dir / "progress").glob("*.json"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            in_progress[state.get("unit")] = int(state.get("epoch", 0))

        done = 0
        for unit in self.units:
            if unit in self.finished or unit.result_path(self.out_dir).exists():
                if unit not in self.finished:
                    self.finished.add(unit)
                    logger.info("Finished %s (%d of %d)", unit.name, len(self.finished), len(self.units))
                done += self.epochs
            else:
                done += min(in_progress.get(unit.name, 0), self.epochs)
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)


def _kernel_manager_class(socket_folder: Path) -> type:
    """Return a kernel manager that talks to the kernel over local IPC sockets, not TCP.

    The kernel then opens no network port, and ipykernel does not warn about unencrypted TCP.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            kwargs.setdefault("transport", "ipc")
            # The sockets live in a short temporary folder: the working directory is the
            # output folder, and a Unix socket path longer than about 100 characters fails.
            kwargs.setdefault("ip", str(socket_folder / "kernel"))
            super().__init__(**kwargs)

    return IPCKernelManager


def _execute(notebook: Path, out_dir: Path, run_id: str, device: torch.device, diagnostics: bool) -> None:
    import papermill

    executed = out_dir / "notebooks" / f"{run_id}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mtllib-") as socket_folder:
        papermill.execute_notebook(
            str(notebook),
            str(executed),
            parameters={"approach": run_id, "out_dir": str(out_dir.resolve()), "device": str(device), "diagnostics": diagnostics},
            progress_bar=False,
            log_output=False,
            cwd=str(out_dir),
            kernel_manager_class=_kernel_manager_class(Path(socket_folder)),
        )


def _print_summary(out_dir: Path) -> None:
    results = write_results(out_dir)
    if results.summary.empty:
        print("No unit has finished yet.")
        return
    print()
    print(f"Results in {out_dir} (mean ± standard deviation over {int(results.summary['splits'].max())} splits; paper: Table II of Alison et al., 2024)")
    print(comparison_table(results.summary).to_string())
    significant = results.statistics[(results.statistics["test"] == "corrected t-test") & (results.statistics["p_value"] < 0.05)]
    print(f"\nCorrected resampled t-tests with p < 0.05: {len(significant)} of "
          f"{int((results.statistics['test'] == 'corrected t-test').sum())} (statistics.csv)")
    if results.profile == "smoke":
        print("The smoke profile trains 2 epochs on 176 images: its scores are near chance and say nothing "
              "about the methods. Run --profile quick (CPU) or paper (GPU) for numbers to compare.")


def run(args: argparse.Namespace) -> int:
    """Run ``reproduce``; return the exit status."""
    try:
        profile, approaches, device, out_dir = _validate(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    try:
        study = prepare_study(
            out_dir,
            profile=profile,
            data=args.data,
            folds=args.folds,
            repeats=args.repeats,
            seed=args.seed,
            single_task=not args.no_single_task,
            pcgrad_mode=args.pcgrad_mode,
            device=device,
            approaches=approaches,
            cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        )
    except ConfigurationMismatch as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    return _train(study.config, approaches, device, out_dir, args.diagnostics)


def _train(config: StudyConfig, approaches: list[str], device: torch.device, out_dir: Path, diagnostics: bool) -> int:
    run_ids = approaches + (["single"] if config.single_task else [])
    plan = {run_id: plan_units(expand_run_ids(run_id), config) for run_id in run_ids}
    todo = {run_id: pending_units(out_dir, units) for run_id, units in plan.items()}
    all_pending = [unit for units in todo.values() for unit in units]
    total_units = sum(len(units) for units in plan.values())
    logger.info(
        "%d of %d units to train (%d finished already) on %s with profile %s",
        len(all_pending), total_units, total_units - len(all_pending), device, config.profile,
    )

    notebook = experiment_notebook()
    epochs = config.train["epochs"]
    started = time.perf_counter()
    status = 0
    bar = tqdm(total=len(all_pending) * epochs, unit="epoch", desc="reproduce", dynamic_ncols=True)
    with logging_redirect_tqdm(), _ProgressMonitor(out_dir, all_pending, epochs, bar):
        for run_id in run_ids:
            if not todo[run_id]:
                continue
            logger.info("Running %s: %d unit(s), notebook %s", run_id, len(todo[run_id]), out_dir / "notebooks" / f"{run_id}.ipynb")
            try:
                _execute(notebook, out_dir, run_id, device, diagnostics)
            except KeyboardInterrupt:
                logger.warning("Interrupted; finished units are kept. Run the same command again to resume.")
                status = EXIT_INTERRUPTED
                break
            except Exception as error:  # papermill re-raises the notebook's error with its traceback
                logger.error("%s failed: %s. The executed notebook %s shows the traceback.", run_id, str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__, out_dir / "notebooks" / f"{run_id}.ipynb")
                status = EXIT_FAILED
                break
    bar.close()
    logger.info("Training took %.0f s", time.perf_counter() - started)
    _print_summary(out_dir)
    return status
