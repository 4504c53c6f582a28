"""An image's root filesystem from its docker-archive, and commands run in it as the image's user (chroot,
root only): how the tests and benchmarks run the images where there is no container engine."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path


def unpack(archive: Path, rootfs: Path) -> dict:
    """Extracts the image's layers in order (whiteouts applied) and returns its config."""
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        config = json.load(outer.extractfile(manifest["Config"]))
        rootfs.mkdir()
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                members = []
                for member in inner:
                    parent, _, base = member.name.rpartition("/")
                    if base == ".wh..wh..opq":
                        shutil.rmtree(rootfs / parent, ignore_errors=True)
                    elif base.startswith(".wh."):
                        target = rootfs / parent / base[len(".wh.") :]
                        if target.is_dir():
                            shutil.rmtree(target)
                        else:
                            target.unlink(missing_ok=True)
                    else:
                        members.append(member)
                inner.extractall(rootfs, members=members, filter="tar")
    (rootfs / "tmp").chmod(
        0o1777
    )  # what the pod's emptyDir at /tmp gives (the "tar" filter drops the sticky bit)
    (rootfs / "dev").mkdir(exist_ok=True)
    for name, minor in (("null", 3), ("zero", 5), ("urandom", 9)):  # the devices a container runtime provides
        (rootfs / "dev" / name).unlink(
            missing_ok=True
        )  # the layer's own entry, if any, is not a usable device
        os.mknod(rootfs / "dev" / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        (rootfs / "dev" / name).chmod(0o666)
    return config["config"]


def repo_tags(archive: Path) -> list[str]:
    """The names the docker-archive's image is tagged with."""
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
    return list(manifest.get("RepoTags") or [])


def listing(archive: Path) -> list[str]:
    names: list[str] = []
    with tarfile.open(archive) as outer:
        (manifest,) = json.load(outer.extractfile("manifest.json"))
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                names.extend(inner.getnames())
    return names


class ImageRun:
    """Runs commands of an unpacked image as its user, with its environment, on the host's loopback."""

    def __init__(self, rootfs: Path, config: dict) -> None:
        self.rootfs, self.user = rootfs, config.get("User", "0")
        self.env = dict(item.split("=", 1) for item in config.get("Env", []))
        self.entrypoint = config.get("Entrypoint") or []

    def command(self, *argv: str) -> list[str]:
        """`argv` run in the image as its user."""
        return ["chroot", f"--userspec={self.user}", str(self.rootfs), *argv]

    def argv(self, *args: str) -> list[str]:
        """The image's entrypoint with `args`, as `docker run IMAGE args` would run it."""
        return self.command(*self.entrypoint, *args)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd="/", check=False)  # fmt: skip
