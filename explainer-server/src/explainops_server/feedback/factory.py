"""Open a feedback store from its DSN: `sqlite:///abs/path.db` or `postgresql://...`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from explainops_server.errors import ConfigurationError
from explainops_server.feedback.base import FeedbackStore


def open_store(dsn: str) -> FeedbackStore:
    scheme = urlparse(dsn).scheme
    if scheme == "sqlite":
        path = unquote(dsn[len("sqlite://") :])
        if not path.startswith("/"):
            raise ConfigurationError(
                f"SQLite DSN needs an absolute path (sqlite:///abs/path.db), got {dsn!r}"
            )
        from explainops_server.feedback.sqlite import SqliteFeedbackStore

        return SqliteFeedbackStore(Path(path))
    if scheme in ("postgresql", "postgres"):
        from explainops_server.feedback.postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(dsn)
    raise ConfigurationError(
        f"unsupported feedback store {dsn.split(':', 1)[0]!r}: use sqlite:/// or postgresql://"
    )
