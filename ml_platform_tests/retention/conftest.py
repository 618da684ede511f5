"""One real Bento, built once per session, that the retention tests clone under other versions and labels:
a build takes about ten seconds, and what retention reads of a Bento is its store entry."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVICE = '''import bentoml


@bentoml.service
class Echo:
    @bentoml.api
    def echo(self, text: str) -> str:
        return text
'''


@pytest.fixture(scope="session")
def bento_template(tmp_path_factory) -> Path:
    import bentoml
    from bentoml._internal.bento import BentoStore

    folder = tmp_path_factory.mktemp("echo-bento")
    (folder / "service.py").write_text(SERVICE)
    store = BentoStore(str(folder / "home" / "bentos"))
    built = bentoml.bentos.build("service:Echo", build_ctx=str(folder), _bento_store=store)
    return Path(built.path)
