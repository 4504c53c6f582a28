"""Open a feedback store from its DSN: `sqlite:///abs/path.db`, `sqlite:rel/path.db` or `postgresql://...`.

How a SQLite DSN's slashes are read (a URI: `sqlite://` + an absolute path):
- `sqlite:///data/feedback.db` -> /data/feedback.db (three slashes: the third starts the absolute path);
- `sqlite:/data/feedback.db` and `sqlite:////data/feedback.db` -> /data/feedback.db as well;
- `sqlite:feedback.db` or `sqlite:data/feedback.db` -> relative to the working directory, made absolute;
- `sqlite:///feedback.db` would name a file in the filesystem root; it is refused, because it almost
  always means a relative file: write `sqlite:feedback.db` for that.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from explainops_server.errors import ConfigurationError
from explainops_server.feedback.base import FeedbackStore


def sqlite_path(dsn: str) -> Path:
    """The file a `sqlite:` DSN names (see the module docstring for the slashes)."""
    rest = unquote(dsn[len("sqlite:") :])
    if not rest.startswith("/"):
        if not rest:
            raise ConfigurationError(f"SQLite DSN names no file: {dsn!r} (e.g. sqlite:///abs/path.db)")
        return Path(rest).resolve()
    path = Path("/" + rest.lstrip("/"))
    if path.parent == Path("/"):
        raise ConfigurationError(
            f"SQLite DSN {dsn!r} names {path} in the filesystem root; for a file relative to the working "
            f"directory write sqlite:{path.name}, for an absolute path sqlite:///dir/{path.name}"
        )
    return path


def open_store(dsn: str) -> FeedbackStore:
    scheme = urlparse(dsn).scheme
    if scheme == "sqlite":
        from explainops_server.feedback.sqlite import SqliteFeedbackStore

        return SqliteFeedbackStore(sqlite_path(dsn))
    if scheme in ("postgresql", "postgres"):
        from explainops_server.feedback.postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(dsn)
    raise ConfigurationError(
        f"unsupported feedback store {dsn.split(':', 1)[0]!r}: use sqlite:/// or postgresql://"
    )
