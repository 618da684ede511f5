"""The hyperparameter search: successive halving over the grid, in two rungs, every fit of a rung in parallel.

Every candidate is cross-validated first on a stratified, seeded sample of the training rows; the best
1/`factor`**k go on to every training row (the idea of scikit-learn's `HalvingRandomSearchCV`, over our
grid and with our own ranking and logging). So most of the compute goes to candidates that earn it, and
the winner's two scores are most of a learning curve (a few small samples complete it). Two rungs, not
log(n): each rung is a barrier across the candidates' steps and, on Kubernetes, a pod start per candidate
(README, "Training at scale"). The pieces (`rung_rows`, `Fits`, `advance`, `rank`) run a search in one
process (`search`) or as one Dagster step per candidate and rung (`defs/training/search_steps.py`).
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from ml_platform.lib.modeling import SCORERS, build_pipeline, candidates
from ml_platform.lib.shared_frame import read_columns, write_columns
from ml_platform.lib.spec import DatasetSpec

TARGET = "__target__"
PARALLEL_FROM_ROWS = 20_000  # below this many rows a whole search takes less than starting a worker process
MIN_RUNG_ROWS = 20_000  # no screening sample smaller than this: a ranking on fewer rows is mostly noise
_LIMITS: list[Any] = []


@dataclass(frozen=True)
class Scored:
    """One candidate's cross-validated score at one rung's row count; `error` if a fold of it failed."""

    estimator: str
    params: dict[str, Any]
    rows: int
    cv_score: float
    cv_std: float
    fit_seconds: float
    error: str = ""
    peak_rss_mib: float = 0.0  # the largest of its fit processes' peaks
    fits: int = 0
    cpus: int = 1  # the processes its folds ran on


class SearchFailed(RuntimeError):
    """Every candidate failed; the message holds each one's error."""


@dataclass(frozen=True)
class SearchResult:
    ranked: list[Scored]  # each candidate at the last rung it reached: furthest first, then by score
    rungs: list[list[Scored]] = field(default_factory=list)
    cpus: int = 1
    fits: int = 0
    seconds: float = 0.0
    worker_peak_rss_mib: float = 0.0  # the largest of the fit processes' peaks
    smaller: list[Scored] = field(default_factory=list)  # the winner on samples smaller than any rung

    def history(self, candidate: Scored) -> list[Scored]:
        """`candidate`'s score at every rung it reached, fewest rows first."""
        return [s for rung in self.rungs for s in rung if (s.estimator, s.params) == (candidate.estimator, candidate.params)]

    def curve(self) -> list[Scored]:
        """The winner's score at every rung it passed and on the smaller samples: its learning curve."""
        return sorted([*self.smaller, *self.history(self.ranked[0])], key=lambda s: s.rows)


def rung_rows(rows: int, candidates: int, factor: int, min_rows: int) -> list[int]:
    """Row counts of the rungs: `[rows]`, or a screening sample and `rows`. The sample is `rows / factor**k`
    for the k that leaves at most `factor` candidates in the last rung, as long as it keeps `min_rows`."""
    if factor < 2:
        return [rows]
    halvings = max(0, math.ceil(math.log(candidates, factor)) - 1) if candidates > 1 else 0
    while halvings and rows // factor**halvings < min_rows:
        halvings -= 1
    return [rows // factor**halvings, rows] if halvings else [rows]


def advance(rung: list[Scored], rows: int, last_rows: int) -> list[Scored]:
    """The candidates of a screening rung at `rows` that go on to `last_rows`: the best `rows/last_rows`
    share of those that did not fail (at least one); none when this rung already was the last."""
    if rows >= last_rows:
        return []
    keep = max(1, math.ceil(len(rung) / round(last_rows / rows)))
    return sorted((s for s in rung if not s.error), key=lambda s: s.cv_score, reverse=True)[:keep]


def rank(rungs: list[list[Scored]]) -> list[Scored]:
    """Each candidate at the last rung it reached, furthest first, then by score; failed ones last."""
    reached = {(s.estimator, str(s.params)): s for rung in rungs for s in rung}  # later rungs overwrite
    ranked = sorted(reached.values(), key=lambda s: (not s.error, s.rows, s.cv_score), reverse=True)
    if ranked[0].error:
        raise SearchFailed("every candidate failed: " + "; ".join(f"{s.estimator} {s.params}: {s.error}" for s in ranked))
    return ranked


def curve_rows(rows: int, folds: int) -> list[int]:
    """Smaller samples the winner is also scored on, for its learning curve: a third, a ninth, a 27th."""
    return [rows // 3**k for k in (3, 2, 1) if rows // 3**k >= 100 * folds]


class Fits:
    """Cross-validates candidates on the training rows, written once as column files the fit processes map.

    `cpus` spawned processes (one BLAS/OpenMP thread each: the processes are the parallelism) end with
    the `with` block, so none outlives the step (a lingering one would keep a pod's output open); with
    one CPU the fits run in this process."""

    def __init__(self, spec: DatasetSpec, x: pd.DataFrame, y: pd.Series, cpus: int):
        self.spec, self.x, self.y, self.cpus = spec, x, y, max(1, cpus)

    def __enter__(self) -> Fits:
        self._folder = tempfile.TemporaryDirectory(prefix="search-")
        write_columns(self.x.assign(**{TARGET: self.y.to_numpy()}), Path(self._folder.name))
        self._pool = None
        if self.cpus > 1:
            context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
            self._pool = ProcessPoolExecutor(self.cpus, mp_context=context, initializer=_one_thread)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        _FRAMES.clear()  # with one CPU the fits ran in this process
        self._folder.cleanup()

    def score(self, jobs: list[tuple[str, dict[str, Any], int]]) -> list[Scored]:
        """One Scored per (estimator, params, rows), in order; all their folds at once."""
        folds, folder = self.spec.training.cv_folds, self._folder.name
        args = [(folder, self.spec, e, p, rows, fold) for e, p, rows in jobs for fold in range(folds)]
        results = list(self._pool.map(_fit_and_score, *zip(*args))) if self._pool and args else \
            [_fit_and_score(*arg) for arg in args]
        return [_summarise(job, results[i * folds:(i + 1) * folds], self.cpus) for i, job in enumerate(jobs)]


def search(spec: DatasetSpec, space: dict[str, dict[str, list[Any]]], x: pd.DataFrame, y: pd.Series, cpus: int,
           factor: int = 3, min_rows: int = MIN_RUNG_ROWS, curve: bool = True,
           parallel_from_rows: int = PARALLEL_FROM_ROWS) -> SearchResult:
    """The whole search in this step (factor < 2: every candidate on every row); with `curve`, the winner
    is also scored on the smaller samples of `curve_rows`. Below `parallel_from_rows` the fits run in this
    process: starting a worker would cost more than the whole search."""
    started, pool = time.time(), [(e, p) for e, p in candidates(space)]
    sizes, rungs = rung_rows(len(x), len(pool), factor, min_rows), []
    cpus = cpus if len(x) >= parallel_from_rows else 1
    with Fits(spec, x, y, cpus) as fits:
        for rows in sizes:
            rungs.append(fits.score([(e, p, rows) for e, p in pool]))
            pool = [(s.estimator, s.params) for s in advance(rungs[-1], rows, len(x))]
        return conclude(rungs, fits, started, curve)


def conclude(rungs: list[list[Scored]], fits: Fits, started: float, curve: bool = True) -> SearchResult:
    """The search's result from its rungs: the candidates ranked, the winner scored on the smaller samples
    of its learning curve (with `curve`), and what it all cost since `started` (a `time.time()`)."""
    ranked, sizes = rank(rungs), [rung[0].rows for rung in rungs]
    best = ranked[0]
    smaller = fits.score([(best.estimator, best.params, rows) for rows in curve_rows(len(fits.x), fits.spec.training.cv_folds)
                          if curve and rows not in sizes])
    every = [*(s for rung in rungs for s in rung), *smaller]
    return SearchResult(ranked, rungs, max(s.cpus for s in every), sum(s.fits for s in every), time.time() - started,
                        round(max(s.peak_rss_mib for s in every), 1), smaller)


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(1))  # kept referenced for the worker's life


def _summarise(job: tuple[str, dict[str, Any], int], results: list[tuple[float, float, float, str]],
               cpus: int) -> Scored:
    """One Scored from a candidate's fold results."""
    (estimator, params, rows), (scores, seconds, peaks, errors) = job, zip(*results)
    error = next((e for e in errors if e), "")
    mean, std = (math.nan, math.nan) if error else (float(np.mean(scores)), float(np.std(scores)))
    return Scored(estimator, params, rows, mean, std, float(sum(seconds)), error, float(max(peaks)),
                  len(results), cpus)


_FRAMES: dict[str, pd.DataFrame] = {}


def _fit_and_score(folder: str, spec: DatasetSpec, estimator: str, params: dict[str, Any], rows: int,
                   fold: int) -> tuple[float, float, float, str]:
    """One fold of one candidate at one rung, in a worker process: (score, fit seconds, peak RSS MiB, error).

    A candidate that raises (a parameter its estimator refuses, a fit that runs out of something) is
    reported, not raised: it drops out of the search and the others go on."""
    from sklearn.metrics import get_scorer

    from ml_platform.lib.features import model_spec
    from ml_platform.lib.run_cost import RunCost

    if folder not in _FRAMES:
        _FRAMES.clear()  # one search's rows at a time per worker
        _FRAMES[folder] = read_columns(Path(folder))
    frame = _FRAMES[folder]
    seed, labels = spec.training.seed, frame[TARGET].cat.codes.to_numpy()
    index = np.arange(len(frame))
    if rows < len(frame):  # the rung's stratified sample: the same rows for every candidate and fold
        index, _ = train_test_split(index, train_size=rows, random_state=seed, stratify=labels)
    folds = StratifiedKFold(spec.training.cv_folds, shuffle=True, random_state=seed)
    train, test = list(folds.split(index, labels[index]))[fold]
    columns = model_spec(spec).feature_names
    x, y = frame[columns], frame[TARGET]
    started = time.perf_counter()
    try:
        pipeline = build_pipeline(spec, estimator, params, seed).fit(x.iloc[index[train]], y.iloc[index[train]])
        seconds = time.perf_counter() - started
        score, error = get_scorer(SCORERS[spec.thresholds.metric])(pipeline, x.iloc[index[test]], y.iloc[index[test]]), ""
    except Exception as exc:  # noqa: BLE001 - one candidate's failure is data for the search, not its end
        seconds, score, error = time.perf_counter() - started, math.nan, f"{type(exc).__name__}: {exc}"[:500]
    return float(score), seconds, RunCost().metadata()["peak_rss_mib"], error
