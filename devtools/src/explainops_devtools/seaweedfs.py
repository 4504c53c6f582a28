"""A throwaway S3-compatible server for tests (development only): SeaweedFS's `weed server -s3`.

SeaweedFS is Apache-2.0 and built from the Go module proxy by `hack/install-seaweedfs.sh`; `WEED`
names the binary (`make test` sets it), else the script's cache is searched. Every port is a free
127.0.0.1 port, the data lives in a temporary directory, one identity with a random key pair is the
only one allowed in, and `stop()` ends the process by its PID and removes the directory.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WEED_ENV = "WEED"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "explainops" / "seaweedfs"
START_TIMEOUT = 60.0
PORT_NAMES = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class SeaweedUnavailable(RuntimeError):
    """No `weed` binary, or it did not start."""


def find_weed() -> Path:
    given = os.environ.get(WEED_ENV)
    if given:
        if not os.access(given, os.X_OK):
            raise SeaweedUnavailable(f"{WEED_ENV}={given} is not an executable")
        return Path(given)
    cached = sorted(CACHE.glob("*/weed"))
    if not cached:
        raise SeaweedUnavailable(f"no weed binary: run hack/install-seaweedfs.sh or set {WEED_ENV}")
    return cached[-1]


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class ThrowawayS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    root: Path
    process: subprocess.Popen[bytes]
    region: str = "us-east-1"

    @classmethod
    def start(cls) -> ThrowawayS3:
        weed = find_weed()
        root = Path(tempfile.mkdtemp(prefix="explainops-s3-"))
        (root / "data").mkdir()
        access_key, secret_key = f"AK{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
        config = root / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "explainops-test",
                            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
        argv = [
            str(weed),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={root / 'data'}",
            "-filer",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-metricsPort=0",
            "-master.volumeSizeLimitMB=32",
            "-volume.max=16",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        log = (root / "weed.log").open("ab")
        try:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        finally:
            log.close()
        server = cls(f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key, root, process)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def env(self) -> dict[str, str]:
        """The variables a client (the server, the trainer, boto3) reads, KServe-style."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "S3_USE_HTTPS": "0",
            "S3_VERIFY_SSL": "0",
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def _wait_ready(self) -> None:
        """Ready when a signed request gets an answer (the gateway waits for master, volume and filer)."""
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed exited with {self.process.returncode}: {self.log()[-800:]}")
            try:
                client.list_buckets()
                probe = f"ready-{secrets.token_hex(4)}"
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"1")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:  # not up yet: connection refused, 5xx while volumes start
                last = exc
                time.sleep(0.3)
        raise SeaweedUnavailable(f"weed S3 gateway not ready after {START_TIMEOUT:.0f} s: {last}")

    def log(self) -> str:
        path = self.root / "weed.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:  # weed's graceful shutdown can take 15 s; the data is thrown away anyway
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        shutil.rmtree(self.root, ignore_errors=True)
