"""Where artifacts and training data live: local paths, `file://` and `s3://bucket/prefix`.

S3 settings follow KServe's conventions, read from the environment (on a cluster: from the Secret
named by `spec.model.s3.secretName`):
- `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`); absent means boto3's own chain;
- `AWS_ENDPOINT_URL`, else `S3_ENDPOINT` (host[:port] or a URL; `S3_USE_HTTPS=0` means http);
- `AWS_DEFAULT_REGION` (or `AWS_REGION`);
- `S3_VERIFY_SSL=0` turns certificate checks off; `AWS_CA_BUNDLE` names a CA file.
The client is boto3 (Apache-2.0), the library KServe's storage helper uses as well.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from explainops_server.errors import ArtifactError

S3_SCHEME = "s3"
FALSE_VALUES = ("0", "false", "no", "off")


def is_remote(uri: str) -> bool:
    return urlparse(str(uri)).scheme == S3_SCHEME


def join(uri: str, *parts: str) -> str:
    return "/".join([str(uri).rstrip("/"), *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # no leading slash; "" is the bucket's root

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        parsed = urlparse(uri)
        if parsed.scheme != S3_SCHEME or not parsed.netloc:
            raise ArtifactError(f"{uri!r} is not an s3://bucket/prefix URI")
        return cls(parsed.netloc, unquote(parsed.path).lstrip("/"))


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None
    region: str | None
    verify: bool | str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if env is None else env
        endpoint = env.get("AWS_ENDPOINT_URL") or env.get("S3_ENDPOINT") or None
        if endpoint and "://" not in endpoint:
            https = env.get("S3_USE_HTTPS", "1").strip().lower() not in FALSE_VALUES
            endpoint = f"{'https' if https else 'http'}://{endpoint}"
        verify: bool | str = env.get("S3_VERIFY_SSL", "1").strip().lower() not in FALSE_VALUES
        if verify and env.get("AWS_CA_BUNDLE"):
            verify = env["AWS_CA_BUNDLE"]
        region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or None
        return cls(endpoint, region, verify)


@lru_cache(maxsize=4)
def _client(settings: S3Settings) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError as exc:  # e.g. the alibi image flavour, whose lock has no boto3
        raise ArtifactError(f"s3:// storage needs boto3, which this installation lacks ({exc})") from None

    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region or "us-east-1",
        verify=settings.verify,
        # path-style addressing works with every S3-compatible server, virtual hosts need DNS
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )


def client() -> Any:
    return _client(S3Settings.from_env())


def _error(action: str, uri: str, exc: Exception) -> ArtifactError:
    return ArtifactError(f"cannot {action} {uri}: {type(exc).__name__}: {exc}")


def exists(uri: str) -> bool:
    from botocore.exceptions import ClientError

    loc = S3Location.parse(uri)
    try:
        client().head_object(Bucket=loc.bucket, Key=loc.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise _error("check", uri, exc) from None
    except Exception as exc:
        raise _error("check", uri, exc) from None
    return True


def list_keys(uri: str) -> list[str]:
    """Keys under the prefix `uri/` (relative to it)."""
    loc = S3Location.parse(uri)
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    keys: list[str] = []
    try:
        for page in client().get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix):
            keys.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
    except Exception as exc:
        raise _error("list", uri, exc) from None
    return keys


def local_target(dest: Path, key: str, uri: str) -> Path:
    """Where object `key` (relative to the prefix) lands; a key like "../x" must not escape `dest`."""
    target = (dest / key).resolve()
    if dest.resolve() not in target.parents:
        raise ArtifactError(f"{uri}: refusing object key {key!r} outside the prefix")
    return target


def download_dir(uri: str, dest: Path) -> Path:
    """Copy every object under `uri/` into `dest` (created); returns `dest`."""
    loc = S3Location.parse(uri)
    keys = [k for k in list_keys(uri) if k and not k.endswith("/")]
    if not keys:
        raise ArtifactError(f"{uri} holds no objects")
    dest.mkdir(parents=True, exist_ok=True)
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    for key in keys:
        target = local_target(dest, key, uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client().download_file(loc.bucket, prefix + key, str(target))
        except Exception as exc:
            raise _error("download", join(uri, key), exc) from None
    return dest


def upload_dir(source: Path, uri: str, *, last: str = "metadata.json") -> None:
    """Upload every file of `source` to `uri/`, the file named `last` at the end.

    S3 has no rename: a reader that finds metadata.json finds every other file of the version.
    """
    loc = S3Location.parse(uri)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == last)
    for path in files:
        key = "/".join(filter(None, [loc.key.rstrip("/"), path.relative_to(source).as_posix()]))
        try:
            client().upload_file(str(path), loc.bucket, key)
        except Exception as exc:
            raise _error("upload", f"s3://{loc.bucket}/{key}", exc) from None


def fetch_file(uri: str, cache_dir: Path | None = None) -> str:
    """A local path for `uri`: itself when local, else a downloaded copy."""
    if not is_remote(uri):
        parsed = urlparse(str(uri))
        return unquote(parsed.path) if parsed.scheme == "file" else str(uri)
    loc = S3Location.parse(uri)
    directory = cache_dir or Path(tempfile.mkdtemp(prefix="explainops-s3-"))
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / Path(loc.key).name
    try:
        client().download_file(loc.bucket, loc.key, str(target))
    except Exception as exc:
        raise _error("download", uri, exc) from None
    return str(target)


def fetch_version(uri: str, cache_root: Path) -> str:
    """A local version directory for `uri`: itself when local, else downloaded under `cache_root`.

    The download goes to a fresh directory each time: a version is immutable, but a partial copy
    from an interrupted start must never be mistaken for a complete one.
    """
    if not is_remote(uri):
        return uri
    cache_root.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="version-", dir=cache_root))
    if not exists(join(uri, "metadata.json")):
        raise ArtifactError(f"no metadata.json under {uri}")
    return str(download_dir(uri, dest))
