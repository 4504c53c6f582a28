"""A throwaway PostgreSQL server for tests (development only).

If `EXPLAINOPS_TEST_POSTGRES_DSN` is set (CI's `.ci/run` starts a server and sets it), that server is
used. Otherwise one is created with the Debian binaries in a temporary directory on a free loopback
port and removed on `stop()`. PostgreSQL refuses to run as root, so as root it runs as `postgres`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PG_BIN = Path(os.environ.get("EXPLAINOPS_PG_BIN", "/usr/lib/postgresql/15/bin"))
DSN_ENV = "EXPLAINOPS_TEST_POSTGRES_DSN"
SUPERUSER = "explainops"


class PostgresUnavailable(RuntimeError):
    """No DSN was given and no PostgreSQL binaries are installed."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class ThrowawayPostgres:
    """Either an external server (dsn given) or one this object started and will stop."""

    dsn: str
    root: Path | None = None
    schemas: list[str] = field(default_factory=list)
    remote: str = ""

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        external = os.environ.get(DSN_ENV)
        if external:
            return cls(dsn=external)
        return cls.start_local()

    @classmethod
    def start_local(cls, *, address: str | None = None, clients: str | None = None) -> ThrowawayPostgres:
        """A server of its own on loopback. With `address` (for example the node's address on the pods'
        bridge) it listens there too, and accepts password logins from the `clients` network only; the
        password is in `pod_dsn()`. Never on every interface."""
        if not (PG_BIN / "initdb").exists():
            raise PostgresUnavailable(f"no {PG_BIN}/initdb")
        if address is not None and (not clients or address in ("0.0.0.0", "*", "::")):
            raise ValueError("listen on one named address, for a named client network")
        root = Path(tempfile.mkdtemp(prefix="explainops-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, port = root / "data", _free_port()
        password = secrets.token_urlsafe(18) if address else None
        listen = "127.0.0.1" if address is None else f"127.0.0.1,{address}"
        run = {"check": True, "capture_output": True, "timeout": 120}
        try:
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
                ),
                **run,
            )
            if address is not None:
                # First match wins: the clients' network needs the password (the rest stays as initdb
                # wrote it: trust on the socket and on 127.0.0.1 only, nothing for other networks).
                hba = data / "pg_hba.conf"
                hba.write_text(f"host all {SUPERUSER} {clients} scram-sha-256\n" + hba.read_text())
            subprocess.run(
                _as_postgres(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "-D",
                        str(data),
                        "-l",
                        str(root / "log"),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        f"-c listen_addresses={listen} -p {port} -k {root} -c fsync=on",
                        "start",
                    ]
                ),
                **run,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(root, ignore_errors=True)
            stderr = getattr(exc, "stderr", b"") or b""
            raise PostgresUnavailable(
                f"could not start PostgreSQL: {stderr.decode(errors='replace')[-500:]}"
            ) from exc
        server = cls(dsn=f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", root=root)
        if address is not None and password is not None:
            from explainops_server.feedback.postgres_dsn import connect

            # Over the socket (trusted): loopback may itself be part of `clients`. A utility statement
            # takes no parameters; the password is URL-safe base64, so it is a plain literal.
            assert re.fullmatch(r"[A-Za-z0-9_-]+", password)
            with connect(f"postgresql://{SUPERUSER}@/postgres?host={root}&port={port}", autocommit=True) as conn:
                conn.cursor().execute(f"ALTER ROLE \"{SUPERUSER}\" PASSWORD '{password}'")
            secret = quote(password, safe="")
            server.dsn = f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{port}/postgres"
            server.remote = f"postgresql://{SUPERUSER}:{secret}@{address}:{port}/postgres"
        return server

    def pod_dsn(self) -> str:
        """The DSN for clients on the `clients` network (started with `address`), password included."""
        if not self.remote:
            raise PostgresUnavailable("this server listens on loopback only (start_local(address=...))")
        return self.remote

    def fresh_schema_dsn(self) -> str:
        """A DSN whose search_path is a new, empty schema: one per test, no table leaks between tests."""
        from explainops_server.feedback.postgres_dsn import connect  # the store's own DSN reading

        schema = f"t_{uuid.uuid4().hex[:16]}"
        assert re.fullmatch(r"t_[0-9a-f]{16}", schema)
        with connect(self.dsn, autocommit=True) as conn:
            conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
        self.schemas.append(schema)
        separator = "&" if "?" in self.dsn else "?"
        return f"{self.dsn}{separator}options={quote(f'-csearch_path={schema}')}"

    def stop(self) -> None:
        if self.root is None:
            import pg8000.dbapi

            from explainops_server.feedback.postgres_dsn import connect

            try:
                with connect(self.dsn, autocommit=True) as conn:
                    for schema in self.schemas:
                        conn.cursor().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except pg8000.dbapi.Error:
                pass
            return
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)
