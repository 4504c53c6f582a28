"""`postgresql://` connection URIs (libpq's URI form) turned into a pg8000 connection.

pg8000 takes keyword arguments, not a DSN, so the URI is read here: `postgresql://[user[:password]@]
[host][:port][/dbname][?param=value&...]` with the parameters below. An unknown parameter is refused
by name rather than ignored, so a setting is never silently dropped.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from explainops_server.errors import ConfigurationError

DEFAULT_PORT = 5432
DEFAULT_CONNECT_TIMEOUT = 10.0
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
PARAMETERS = (
    "host", "port", "user", "password", "dbname", "sslmode", "sslrootcert", "connect_timeout", "options",
    "application_name",
)


@dataclass(frozen=True)
class PostgresTarget:
    """What a DSN names. `host` starting with `/` is a Unix-socket directory, as in libpq."""

    user: str
    host: str = "localhost"
    port: int = DEFAULT_PORT
    database: str | None = None
    password: str | None = field(default=None, repr=False)
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    startup_params: dict[str, str] = field(default_factory=dict)
    application_name: str | None = None


def parse_dsn(dsn: str) -> PostgresTarget:
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(f"not a postgresql:// DSN: {parts.scheme}://...")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise ConfigurationError(
            f"PostgreSQL DSN parameter(s) {', '.join(unknown)} not supported; known: {', '.join(PARAMETERS)}"
        )
    try:
        url_port = parts.port
    except ValueError:
        raise ConfigurationError("PostgreSQL DSN: the port must be a number") from None
    user = query.get("user") or unquote(parts.username or "")
    if not user:
        raise ConfigurationError("PostgreSQL DSN names no user (postgresql://USER@host/db)")
    sslmode = query.get("sslmode", "prefer")
    if sslmode not in SSL_MODES:
        raise ConfigurationError(f"PostgreSQL DSN: sslmode {sslmode!r} is not one of {', '.join(SSL_MODES)}")
    try:
        port = int(query.get("port") or url_port or DEFAULT_PORT)
        timeout = float(query.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
    except ValueError:
        raise ConfigurationError("PostgreSQL DSN: port and connect_timeout must be numbers") from None
    if timeout <= 0:  # libpq reads 0 as "wait forever"; a store that never answers is refused instead
        raise ConfigurationError("PostgreSQL DSN: connect_timeout must be > 0")
    path = unquote(parts.path.lstrip("/"))
    return PostgresTarget(
        user=user,
        host=query.get("host") or unquote(parts.hostname or "") or "localhost",
        port=port,
        database=query.get("dbname") or path or None,
        password=query.get("password") or (unquote(parts.password) if parts.password else None),
        sslmode=sslmode,
        sslrootcert=query.get("sslrootcert"),
        connect_timeout=timeout,
        startup_params={"options": query["options"]} if query.get("options") else {},
        application_name=query.get("application_name"),
    )


def _ssl_context(target: PostgresTarget) -> ssl.SSLContext | bool | None:
    """pg8000's argument: False = plain, None = TLS if the server offers it, a context = TLS required."""
    if target.sslmode == "disable":
        return False
    if target.sslmode in ("allow", "prefer"):
        return None  # as libpq: try TLS, unverified, fall back to plain
    context = ssl.create_default_context(cafile=target.sslrootcert)
    if target.sslmode == "require":
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    elif target.sslmode == "verify-ca":
        context.check_hostname = False
    return context


def _socket(target: PostgresTarget) -> socket.socket:
    """Connected within `connect_timeout`, then blocking: the timeout bounds the connect, not queries."""
    if target.host.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(target.connect_timeout)
        try:
            sock.connect(f"{target.host}/.s.PGSQL.{target.port}")
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((target.host, target.port), target.connect_timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.settimeout(None)
    return sock


def connect(dsn: str, *, autocommit: bool = False) -> Any:
    """A pg8000 DB-API connection (paramstyle `format`, `%s`) to what `dsn` names."""
    import pg8000.dbapi

    target = parse_dsn(dsn)
    try:
        sock = _socket(target)
    except OSError as exc:
        raise pg8000.dbapi.InterfaceError(
            f"cannot connect to {target.host}:{target.port} within {target.connect_timeout:g} s: {exc}"
        ) from None
    try:
        conn = pg8000.dbapi.connect(
            target.user,
            host=target.host,
            database=target.database,
            port=target.port,
            password=target.password,
            ssl_context=_ssl_context(target),
            application_name=target.application_name,
            startup_params=target.startup_params or None,
            sock=sock,
        )
    except BaseException:
        sock.close()
        raise
    conn.autocommit = autocommit
    return conn
