"""The audit export: one JSON line per prediction, with its explanation and every feedback record.

Shared by `GET /v1/models/{name}/audit` and `explainops-server audit export`, so both write the
same lines for the same store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson

from explainops_server.errors import InvalidInput
from explainops_server.feedback.base import FeedbackStore

AUDIT_FORMAT = "explainops.audit/v1"


def parse_time(value: str | None, field: str) -> float | None:
    """Unix seconds, or an ISO 8601 date/time (UTC when no offset is given); None stays None."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field}: expected unix seconds or an ISO 8601 time, got {value!r:.60}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_range(since: float | None, until: float | None) -> None:
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until: must be later than since")


def audit_lines(
    store: FeedbackStore, model_name: str | None, since: float | None, until: float | None
) -> Iterator[bytes]:
    """Predictions made in [since, until), oldest first, as JSON Lines (bytes, newline-terminated)."""
    check_range(since, until)
    for record in store.audit_records(model_name, since, until):
        line = {"format": AUDIT_FORMAT, "time": iso(record["created_at"]), **record}
        yield orjson.dumps(line, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
