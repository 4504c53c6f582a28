"""The throwaway PostgreSQL server, opened to one client network (the node's pods) with a password."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit, urlunsplit

import pytest

from explainops_devtools.postgres import PG_BIN, PostgresUnavailable, ThrowawayPostgres
from explainops_server.feedback.postgres_dsn import connect

pytestmark = pytest.mark.postgres

ADDRESS = "127.0.0.2"  # stands in for the node's bridge address
# Linux connects to 127.0.0.2 from 127.0.0.1: the client network must cover that source.
CLIENTS = "127.0.0.0/8"


@pytest.fixture(scope="module")
def server():
    try:
        started = ThrowawayPostgres.start_local(address=ADDRESS, clients=CLIENTS)
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    yield started
    started.stop()


def test_clients_of_the_named_network_log_in_with_the_password(server) -> None:
    dsn = server.pod_dsn()
    assert urlsplit(dsn).hostname == ADDRESS and urlsplit(dsn).password
    with connect(dsn) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT inet_server_addr()::text")
        assert cursor.fetchone()[0].startswith(ADDRESS)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_without_the_password_the_network_is_refused(server, password: str | None) -> None:
    """Checked with the server's own psql (no client library quirks): the server asks for the password."""
    parts = urlsplit(server.pod_dsn())
    user = parts.username if password is None else f"{parts.username}:{password}"
    dsn = urlunsplit((parts.scheme, f"{user}@{parts.hostname}:{parts.port}", parts.path, "", ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    refused = subprocess.run([str(PG_BIN / "psql"), "-w", dsn, "-c", "SELECT 1"], capture_output=True, text=True,
                             timeout=30, env=env, check=False)
    assert refused.returncode != 0
    assert "password" in refused.stderr, refused.stderr


@pytest.mark.parametrize("address", ["0.0.0.0", "*"])
def test_every_interface_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="one named address"):
        ThrowawayPostgres.start_local(address=address, clients="10.0.0.0/8")


def test_a_loopback_only_server_has_no_pod_dsn() -> None:
    with pytest.raises(PostgresUnavailable, match="loopback only"):
        ThrowawayPostgres(dsn="postgresql://x@127.0.0.1:1/postgres").pod_dsn()
