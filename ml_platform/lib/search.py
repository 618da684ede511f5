"""The hyperparameter search: successive halving over the grid, every fit of a rung in parallel.

Every candidate is cross-validated first on a stratified, seeded sample of the training rows; the best
1/`factor` go on to `factor` times the rows, until the last rung is every training row (the idea of
scikit-learn's `HalvingRandomSearchCV`, over our grid and with our own ranking and logging). So most of
the compute goes to candidates that earn it, and the winner's scores along the rungs are most of a
learning curve (a few small samples complete it). The fits of a rung (candidate x fold) run at once on
`cpus` worker processes that map the training rows from column files written once (`shared_frame`),
never a copy per process.
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterator
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
    """Row counts of the rungs, smallest first, the last one `rows`: as many halvings as leave at most
    `factor` candidates in the last rung, as long as the first rung keeps at least `min_rows` rows."""
    if factor < 2:
        return [rows]
    halvings = max(0, math.ceil(math.log(candidates, factor)) - 1) if candidates > 1 else 0
    while halvings and rows // factor**halvings < min_rows:
        halvings -= 1
    return [rows // factor**k for k in range(halvings, 0, -1)] + [rows]


@contextmanager
def _fit_processes(cpus: int) -> Iterator[Callable[[list[tuple]], list[tuple]]]:
    """Runs lists of `_fit_and_score` arguments: on `cpus` spawned processes, each with one BLAS/OpenMP
    thread (the processes are the parallelism), all ended when the search ends, so none outlives the step
    (a lingering worker would keep a pod's output open); in this process when `cpus` is 1."""
    if cpus <= 1:
        yield lambda jobs: [_fit_and_score(*job) for job in jobs]
        return
    context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    with ProcessPoolExecutor(cpus, mp_context=context, initializer=_one_thread) as pool:
        yield lambda jobs: list(pool.map(_fit_and_score, *zip(*jobs))) if jobs else []


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(1))  # kept referenced for the worker's life


def search(spec: DatasetSpec, space: dict[str, dict[str, list[Any]]], x: pd.DataFrame, y: pd.Series, cpus: int,
           factor: int = 3, min_rows: int = 20_000, curve: bool = True,
           parallel_from_rows: int = PARALLEL_FROM_ROWS) -> SearchResult:
    """Successive halving of every candidate in `space` (factor < 2: every candidate on every row); with
    `curve`, the winner is also scored on the smaller samples of `curve_rows`. Below `parallel_from_rows`
    the fits run in this process: starting a worker would cost more than the whole search."""
    started, pool = time.perf_counter(), [(e, p) for e, p in candidates(space)]
    sizes, rungs, fits, peak = rung_rows(len(x), len(pool), factor, min_rows), [], 0, 0.0
    cpus = cpus if len(x) >= parallel_from_rows else 1
    with tempfile.TemporaryDirectory(prefix="search-") as folder, _fit_processes(cpus) as parallel:
        write_columns(x.assign(**{TARGET: y.to_numpy()}), Path(folder))
        for level, rows in enumerate(sizes):
            jobs = [(folder, spec, estimator, params, rows, fold)
                    for estimator, params in pool for fold in range(spec.training.cv_folds)]
            results = parallel(jobs)
            fits, peak = fits + len(jobs), max([peak, *(r[2] for r in results)])
            rung = _summarise(pool, results, spec.training.cv_folds, rows)
            rungs.append(rung)
            keep = len(pool) if level == len(sizes) - 1 else max(1, math.ceil(len(pool) / factor))
            ahead = sorted((s for s in rung if not s.error), key=lambda s: s.cv_score, reverse=True)
            pool = [(s.estimator, s.params) for s in ahead[:keep]]
            if not pool:
                break
        reached = {(s.estimator, str(s.params)): s for rung in rungs for s in rung}  # later rungs overwrite
        ranked = sorted(reached.values(), key=lambda s: (not s.error, s.rows, s.cv_score), reverse=True)
        if ranked[0].error:
            raise SearchFailed("every candidate failed: " + "; ".join(f"{s.estimator} {s.params}: {s.error}" for s in ranked))
        best, smaller = ranked[0], [r for r in curve_rows(len(x), spec.training.cv_folds) if curve and r not in sizes]
        jobs = [(folder, spec, best.estimator, best.params, rows, fold)
                for rows in smaller for fold in range(spec.training.cv_folds)]
        results = parallel(jobs)
        extra = _summarise([(best.estimator, best.params)] * len(smaller), results, spec.training.cv_folds, smaller)
    _FRAMES.clear()  # with one CPU the fits ran in this process
    return SearchResult(ranked, rungs, cpus, fits + len(jobs), time.perf_counter() - started,
                        round(max([peak, *(r[2] for r in results)]), 1), extra)


def curve_rows(rows: int, folds: int) -> list[int]:
    """Smaller samples the winner is also scored on, for its learning curve: a third, a ninth, a 27th."""
    return [rows // 3**k for k in (3, 2, 1) if rows // 3**k >= 100 * folds]


def _summarise(pool: list, results: list[tuple[float, float, float]], folds: int, rows: int | list[int]) -> list[Scored]:
    """One Scored per (candidate, row count) from the fold results, in the order the jobs were made."""
    scored = []
    for index, (estimator, params) in enumerate(pool):
        scores, seconds, _, errors = zip(*results[index * folds:(index + 1) * folds])
        count, error = rows[index] if isinstance(rows, list) else rows, next((e for e in errors if e), "")
        mean, std = (math.nan, math.nan) if error else (float(np.mean(scores)), float(np.std(scores)))
        scored.append(Scored(estimator, params, count, mean, std, float(sum(seconds)), error))
    return scored


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
