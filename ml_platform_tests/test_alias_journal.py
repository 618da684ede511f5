"""The alias journal survives a SIGKILL between a registry move and its journal entry.

A mover records its intent, moves the alias (or the canary share) in the registry, then journals the
move. Killed right after the registry call, it leaves the registry ahead of the journal: the next
reconcile journals the move with the killed mover's actor, reason and time. Killed before the registry
call, it leaves only an intent, and nothing is journalled. A move made outside the platform is journalled
as such. Real MLflow registry (SQLite) and a real Dagster instance, both on disk, shared with the child.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import dagster as dg
import pytest
from mlflow import MlflowClient

from ml_platform.defs.promotion.alias_history import Journal, materialization, recorded_moves
from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.canary import share_of
from ml_platform.lib.registry import CHALLENGER, CHAMPION, Registry

NAME = "journalled"
MOVER = """
import os, signal, sys
import dagster as dg
from dagster._core.instance.ref import InstanceRef
from ml_platform.defs.promotion.alias_history import Journal
from ml_platform.lib.registry import Registry

home, uri, method, when, what = sys.argv[1:]
registry = Registry(uri, "journalled")
real = getattr(registry, method)

def killed(*args):
    if when == "after":
        real(*args)
    os.kill(os.getpid(), signal.SIGKILL)

setattr(registry, method, killed)
journal = Journal(dg.DagsterInstance.from_ref(InstanceRef.from_dir(home)))
if what == "share":
    journal.share(registry, "2", 25, "killed mover", "about to be killed")
else:
    journal.move(registry, "challenger", what, "killed mover", "about to be killed")
"""


@pytest.fixture
def journalled(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, source=str(tmp_path / "model"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        yield instance, Registry(uri, NAME), str(home), uri


def killed_mover(home: str, uri: str, method: str, when: str, what: str) -> None:
    child = subprocess.run([sys.executable, "-c", MOVER, home, uri, method, when, what], cwd=PROJECT_DIR,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr


def test_a_move_killed_between_the_registry_and_the_journal_is_journalled_on_reconcile(journalled):
    instance, registry, home, uri = journalled
    journal = Journal(instance)
    journal.move(registry, CHAMPION, "1", "setup", "first champion")

    killed_mover(home, uri, "set_alias", "after", "2")
    assert registry.alias_version(CHALLENGER) == "2"
    assert [m.alias for m in recorded_moves(instance)] == [CHAMPION], "the gap: moved, not journalled"
    [found] = journal.reconcile(registry)
    assert (found.alias, found.from_version, found.to_version, found.actor) == (CHALLENGER, None, "2", "killed mover")
    assert found.reason.startswith("about to be killed (journalled on reconcile")
    assert journal.reconcile(registry) == [], "journalled once"

    killed_mover(home, uri, "tag_version", "after", "share")
    assert share_of(registry.version_tags("2")) == 25
    [share] = journal.reconcile(registry)
    assert (share.from_version, share.to_version, share.canary_percent, share.actor) == ("2", "2", "25", "killed mover")

    killed_mover(home, uri, "set_alias", "before", "3")
    assert registry.alias_version(CHALLENGER) == "2"
    assert journal.reconcile(registry) == [], "an intent whose move never happened journals nothing"

    registry.set_champion("3")  # by hand, outside the platform
    [outside] = journal.reconcile(registry)
    assert (outside.alias, outside.from_version, outside.to_version, outside.actor) == (CHAMPION, "1", "3", "reconcile")

    journal.move(registry, CHALLENGER, None, "test", "done")
    moves = [(m.alias, m.from_version, m.to_version, m.canary_percent, m.actor) for m in recorded_moves(instance)]
    assert moves == [(CHAMPION, None, "1", None, "setup"), (CHALLENGER, None, "2", None, "killed mover"),
                     (CHALLENGER, "2", "2", "25", "killed mover"), (CHAMPION, "1", "3", None, "reconcile"),
                     (CHALLENGER, "2", None, None, "test")]


def test_two_reconciles_that_find_the_same_move_at_once_list_it_once(journalled):
    instance, registry, _, _ = journalled
    journal = Journal(instance)
    journal.move(registry, CHAMPION, "1", "setup", "first champion")
    registry.set_champion("2")  # by hand
    [found] = journal.reconcile(registry)
    a_moment_later = (datetime.fromisoformat(found.at) + timedelta(milliseconds=3)).isoformat()
    racing = dataclasses.replace(found, at=a_moment_later)
    journal.log(materialization(racing))  # a second reconcile that read the journal before the first wrote
    journal.move(registry, CHAMPION, "1", "rollback", "back")
    moves = [(m.from_version, m.to_version, m.actor) for m in recorded_moves(instance)]
    assert moves == [(None, "1", "setup"), ("1", "2", "reconcile"), ("2", "1", "rollback")]
