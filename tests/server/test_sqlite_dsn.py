"""How a SQLite DSN's slashes are read: absolute after `sqlite://`, relative without slashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from explainops_server.errors import ConfigurationError
from explainops_server.feedback.factory import open_store, sqlite_path


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("sqlite:///data/feedback.db", "/data/feedback.db"),
        ("sqlite:////data/feedback.db", "/data/feedback.db"),
        ("sqlite:/data/feedback.db", "/data/feedback.db"),
        ("sqlite:///data/my%20model.db", "/data/my model.db"),
    ],
)
def test_absolute_forms(dsn, path):
    assert sqlite_path(dsn) == Path(path)


def test_relative_form_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:feedback.db") == tmp_path / "feedback.db"
    assert sqlite_path("sqlite:sub/feedback.db") == tmp_path / "sub" / "feedback.db"
    with open_store("sqlite:sub/feedback.db") as store:
        assert store.version_stats("m", 10) == []
    assert (tmp_path / "sub" / "feedback.db").is_file()


def test_a_file_in_the_filesystem_root_is_refused_with_the_fix():
    with pytest.raises(ConfigurationError, match=r"names /x\.db in the filesystem root.*sqlite:x\.db"):
        sqlite_path("sqlite:///x.db")
    with pytest.raises(ConfigurationError, match="names no file"):
        sqlite_path("sqlite:")
