"""``xops store migrate`` and how every ``xops`` command resolves the store connection."""

from __future__ import annotations

import pytest

from xops_provider.cli import main
from xops_provider.store import create_store_engine
from xops_provider.store.database import head_revision, schema_revision


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_XOPS_STORE", raising=False)
    return tmp_path


class TestStoreMigrate:
    def test_migrates_the_embedded_store(self, home, capsys):
        assert main(["store", "migrate"]) == 0
        engine = create_store_engine(f"sqlite:///{home}/xops/stories.db")
        try:
            assert schema_revision(engine) == head_revision()
        finally:
            engine.dispose()
        assert head_revision() in capsys.readouterr().out

    def test_twice_is_harmless(self, home):
        assert main(["store", "migrate"]) == 0
        assert main(["store", "migrate"]) == 0


class TestMistypedStoreConnection:
    @pytest.mark.parametrize(
        "argv",
        [
            pytest.param(["store", "migrate", "--store-conn-id", "xops_storre"], id="store-migrate"),
            pytest.param(["stories", "list", "--store-conn-id", "xops_storre"], id="stories-list"),
            pytest.param(["stories", "show", "s", "--store-conn-id", "xops_storre"], id="stories-show"),
            pytest.param(["stories", "export", "--store-conn-id", "xops_storre"], id="stories-export"),
        ],
    )
    def test_fails_naming_the_id(self, home, capsys, argv):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "'xops_storre' is not defined" in err
        assert "Traceback" not in err
        assert not (home / "xops" / "stories.db").exists()
