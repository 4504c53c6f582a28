"""The PostgreSQL store on pg8000: DSN reading, concurrent writers in two replicas, multi-row inserts,
and a lost connection answered with a retryable StoreError and then reopened."""

from __future__ import annotations

import random
import threading
from collections import defaultdict

import pytest

from explainops_server.errors import ConfigurationError, StoreError
from explainops_server.feedback import open_store
from explainops_server.feedback.base import FeedbackRecord, PredictionRecord
from explainops_server.feedback.postgres import split_values
from explainops_server.feedback.postgres_dsn import connect, parse_dsn
from explainops_server.feedback.sql import INSERT_FEEDBACK, INSERT_PREDICTION

from .conftest import MODEL

NOW = 1_800_000_000.0


def prediction(pid: str) -> PredictionRecord:
    return PredictionRecord(pid, MODEL, "v1", [1.0, 2.0], [0.4, 0.6], 1, created_at=NOW)


def feedback(fid: str, pid: str, writer: int) -> FeedbackRecord:
    return FeedbackRecord(
        feedback_id=fid, prediction_id=pid, model_name=MODEL, created_at=NOW + 1, label=writer % 2,
        comment=f"writer {writer}",
    )


# ---- DSN -------------------------------------------------------------------------------------------
def test_a_full_uri_is_read_with_percent_decoding():
    target = parse_dsn(
        "postgresql://fb%40user:p%2Fss@db.example:6543/feed%20back?sslmode=require&connect_timeout=3"
        "&options=-csearch_path%3Dt_1&application_name=replica-2"
    )
    assert (target.user, target.password, target.host, target.port, target.database) == (
        "fb@user", "p/ss", "db.example", 6543, "feed back",
    )
    assert (target.sslmode, target.connect_timeout, target.application_name) == ("require", 3.0, "replica-2")
    assert target.startup_params == {"options": "-csearch_path=t_1"}
    assert "p/ss" not in repr(target)  # the password stays out of logs


def test_defaults_and_query_parameters_as_libpq_reads_them():
    target = parse_dsn("postgres://explainops@/feedback")
    assert (target.host, target.port, target.sslmode, target.password) == ("localhost", 5432, "prefer", None)
    socket_dir = parse_dsn("postgresql:///feedback?host=/var/run/postgresql&user=u&port=5433")
    assert (socket_dir.host, socket_dir.port, socket_dir.user, socket_dir.database) == (
        "/var/run/postgresql", 5433, "u", "feedback",
    )


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("postgresql://u@db/fb?sslmod=require", "sslmod"),  # a typo is refused, not ignored
        ("postgresql://u@db/fb?sslmode=always", "sslmode"),
        ("postgresql://db/fb", "user"),
        ("postgresql://u@db:port/fb", "port"),
        ("postgresql://u@db/fb?connect_timeout=0", "connect_timeout"),
        ("mysql://u@db/fb", "postgresql://"),
    ],
)
def test_a_bad_dsn_is_refused_by_name(dsn, named):
    with pytest.raises(ConfigurationError, match=named):
        parse_dsn(dsn)


def test_the_multi_row_insert_keeps_each_statement_whole():
    for statement in (INSERT_PREDICTION, INSERT_FEEDBACK):
        head, values, tail = split_values(statement)
        assert head.startswith("INSERT INTO") and values == "(" + ", ".join(["?"] * 10) + ")"
        assert tail.startswith("ON CONFLICT") and tail.endswith("DO NOTHING")


# ---- against a throwaway PostgreSQL ----------------------------------------------------------------
@pytest.mark.postgres
def test_batches_larger_than_one_insert_statement_are_stored_whole(postgres_dsn):
    with open_store(postgres_dsn) as store:
        store.record_predictions([prediction(f"p-{i}") for i in range(450)])  # 3 INSERT statements
        records = [feedback(f"f-{i}", f"p-{i}", 0) for i in range(450)]
        assert {o.status for o in store.add_feedback(records, atomic=True)} == {"created"}
        assert store.row_counts() == {"predictions": 450, "feedback": 450}
        again = store.add_feedback([*records[:5], feedback("f-new", "p-missing", 0)], atomic=True)
        assert [o.status for o in again] == ["duplicate"] * 5 + ["unknown_prediction"]
        assert store.row_counts()["feedback"] == 450  # the atomic batch wrote nothing


@pytest.mark.postgres
@pytest.mark.timeout(300)
def test_two_replicas_writing_the_same_ids_at_once_lose_nothing_and_misreport_nothing(postgres_dsn):
    """Four writers in two replicas send overlapping feedback ids with different content: each id is
    created exactly once, stored with its creator's content, and every other sender is told
    duplicate (same content) or conflict (different), never "created"."""
    replicas = [open_store(postgres_dsn), open_store(postgres_dsn)]
    try:
        replicas[0].record_predictions([prediction(f"p-{i}") for i in range(100)])
        shared = [f"shared-{i}" for i in range(150)]
        outcomes: dict[str, list[tuple[int, str]]] = defaultdict(list)
        lock = threading.Lock()
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def write(writer: int) -> None:
            rng = random.Random(writer)
            store = replicas[writer % 2]
            try:
                start.wait(30)
                for round_ in range(25):
                    ids = rng.sample(shared, 12) + [f"own-{writer}-{round_}-{j}" for j in range(4)]
                    batch = [feedback(fid, f"p-{abs(hash(fid)) % 100}", writer) for fid in ids]
                    result = store.add_feedback(batch, atomic=False)
                    with lock:
                        for o in result:
                            outcomes[o.feedback_id].append((writer, o.status))
            except BaseException as exc:  # reported below, with the thread's name
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(240)
        assert not errors and not any(t.is_alive() for t in threads), errors

        recent = replicas[1].recent_predictions(MODEL, 1000)
        stored = {f["feedback_id"]: f["comment"] for p in recent for f in p["feedback"]}
        for fid, answers in outcomes.items():
            creators = [w for w, status in answers if status == "created"]
            assert len(creators) == 1, (fid, answers)
            assert stored[fid] == f"writer {creators[0]}"
            for writer, status in answers:
                if status != "created":  # only the creator itself sends the same content again
                    assert status == ("duplicate" if writer == creators[0] else "conflict"), (fid, answers)
        assert set(stored) == set(outcomes)  # nothing stored that nobody was told was created
        assert sum(len(v) for v in outcomes.values()) == 4 * 25 * 16
    finally:
        for store in replicas:
            store.close()


@pytest.mark.postgres
def test_a_lost_connection_is_a_retryable_error_and_the_next_call_reconnects(postgres_dsn):
    name = f"victim-{random.randrange(10**9)}"
    with open_store(f"{postgres_dsn}&application_name={name}") as store:
        store.record_predictions([prediction("p-0")])
        with connect(postgres_dsn, autocommit=True) as admin:
            cur = admin.cursor()
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
            assert cur.fetchall(), "the store's session was found"
        with pytest.raises(StoreError) as lost:
            store.row_counts()
        assert lost.value.status == 503 and lost.value.retry_after and "unavailable" in lost.value.detail
        assert store.row_counts()["predictions"] == 1  # a new session, nothing lost


@pytest.mark.postgres
def test_unix_socket_and_ssl_modes_reach_the_server_as_named(postgres_server, postgres_dsn):
    if postgres_server.root is None:
        pytest.skip("an external server: its socket directory is unknown")
    target = parse_dsn(postgres_dsn)
    via_socket = postgres_dsn.replace("127.0.0.1", "", 1) + f"&host={postgres_server.root}"
    assert parse_dsn(via_socket).host == str(postgres_server.root)
    with connect(via_socket) as conn, connect(postgres_dsn + "&sslmode=disable") as plain:
        for connection in (conn, plain):
            cur = connection.cursor()
            cur.execute("SELECT current_user, inet_server_port()")
            assert cur.fetchone()[0] == target.user
    # The throwaway server has no TLS: "require" is refused instead of falling back to plain text.
    with pytest.raises(StoreError, match=r"(?i)ssl"):
        open_store(postgres_dsn + "&sslmode=require")
