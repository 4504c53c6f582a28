"""A throwaway PostgreSQL server for tests (development only).

If `EXPLAINOPS_TEST_POSTGRES_DSN` is set (CI's `.ci/run` starts a server and sets it), that server is
used. Otherwise one is created with the Debian binaries in a temporary directory on a free loopback
port and removed on `stop()`. PostgreSQL refuses to run as root, so as root it runs as `postgres`.
"""

from __future__ import annotations

import os
import re
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

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        external = os.environ.get(DSN_ENV)
        if external:
            return cls(dsn=external)
        if not (PG_BIN / "initdb").exists():
            raise PostgresUnavailable(f"no {PG_BIN}/initdb and {DSN_ENV} is unset")
        root = Path(tempfile.mkdtemp(prefix="explainops-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data, port = root / "data", _free_port()
        run = {"check": True, "capture_output": True, "timeout": 120}
        try:
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
                ),
                **run,
            )
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
                        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=on",
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
        return cls(dsn=f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", root=root)

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
