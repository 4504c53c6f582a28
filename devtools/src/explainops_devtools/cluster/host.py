"""What the node changes on the host, and how it is put back: bridge, route, firewall, sysctls, mounts.

``HostState.capture()`` records the host before the node starts; ``restore()`` undoes everything the
node did, and ``leftovers()`` lists what would still differ (the start/stop test asserts it is empty).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import PrerequisiteError

# Host settings kubelet, kube-proxy and pod networking change.
SYSCTLS = (
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
# Chains the node's parts create: kubelet and kube-proxy (KUBE-*), CNI plugins (CNI-*), and ours.
CHAIN_PREFIXES = ("KUBE-", "CNI-", "EXPLAINOPS-")
FORWARD_CHAIN = "EXPLAINOPS-FORWARD"
IPTABLES = ("iptables", "ip6tables")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def write_sysctl(name: str, value: str) -> None:
    with contextlib.suppress(OSError):
        _sysctl_path(name).write_text(value)


def chains(tool: str) -> dict[str, set[str]]:
    """Chain names per table, from ``iptables-save``."""
    out = run(f"{tool}-save", check=False).stdout
    tables: dict[str, set[str]] = {}
    table = ""
    for line in out.splitlines():
        if line.startswith("*"):
            table = line[1:]
            tables[table] = set()
        elif line.startswith(":") and table:
            tables[table].add(line[1:].split()[0])
    return tables


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def remove_chains(tool: str, keep: dict[str, set[str]]) -> None:
    """Drop every chain with one of our prefixes that was not there before, and every rule that uses it."""
    for table, names in chains(tool).items():
        created = {c for c in names if _ours(c) and c not in keep.get(table, set())}
        if not created:
            continue
        dump = run(f"{tool}-save", "-t", table).stdout
        kept_lines = []
        for line in dump.splitlines():
            words = line.split()
            if line.startswith(":") and words[0][1:] in created:
                continue
            if line.startswith("-A") and (words[1] in created or any(w in created for w in words[2:])):
                continue
            kept_lines.append(line)
        subprocess.run(
            [f"{tool}-restore", "-w", "5"], input="\n".join(kept_lines) + "\n", text=True, check=True,
            capture_output=True, timeout=60,
        )


def mounts_under(*roots: Path) -> list[str]:
    """Mount points below any of ``roots``, deepest first."""
    prefixes = tuple(str(r).rstrip("/") + "/" for r in roots)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefixes) or point.rstrip("/") + "/" in prefixes:
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def unmount_all(*roots: Path) -> None:
    for _ in range(3):  # a mount can hide another one below it
        points = mounts_under(*roots)
        if not points:
            return
        for point in points:
            run("umount", "-l", point, check=False)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def cgroups_named(name: str) -> list[Path]:
    """cgroup directories called ``name`` directly under a hierarchy root (v1 and the unified one)."""
    found = []
    for root in Path("/sys/fs/cgroup").iterdir():
        candidate = root / name
        if candidate.is_dir():
            found.append(candidate)
    return found


def kill_cgroup_processes(path: Path) -> None:
    """SIGKILL every process left in a cgroup tree (pod processes whose shim is gone), then wait for them."""
    import os
    import signal
    import time

    pids = set()
    for procs in path.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in procs.read_text().split()}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if Path(f"/proc/{p}").exists()}
        time.sleep(0.05)


def remove_cgroup_tree(path: Path) -> None:
    """rmdir bottom-up; a cgroup with live processes stays (and shows up in ``leftovers``)."""
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir():
            with contextlib.suppress(OSError):
                child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


@dataclass
class HostState:
    """The host as it was before the node started."""

    sysctls: dict[str, str] = field(default_factory=dict)
    chains: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    netns: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    @classmethod
    def capture(cls) -> HostState:
        for tool in (*IPTABLES, "ip"):
            if run("which", f"{tool}-save" if tool != "ip" else tool, check=False).returncode:
                raise PrerequisiteError(f"{tool} is missing (Debian packages iptables, iproute2)")
        return cls(
            sysctls=read_sysctls(),
            chains={tool: {t: sorted(c) for t, c in chains(tool).items()} for tool in IPTABLES},
            netns=sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").is_dir() else [],
            cgroups=[str(p) for p in cgroups_named("kubepods")],
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HostState:
        return cls(**json.loads(text))

    def _kept_chains(self, tool: str) -> dict[str, set[str]]:
        return {t: set(c) for t, c in self.chains.get(tool, {}).items()}

    def restore(self, *, bridge: str, service_cidr: str, roots: tuple[Path, ...]) -> None:
        """Undo the node's changes. Processes must be stopped first."""
        unmount_all(*roots)
        netns_dir = Path("/run/netns")
        if netns_dir.is_dir():
            for ns in netns_dir.iterdir():
                if ns.name.startswith("cni-") and ns.name not in self.netns:
                    run("ip", "netns", "delete", ns.name, check=False)
        run("ip", "route", "del", service_cidr, "dev", bridge, check=False)
        if link_exists(bridge):
            run("ip", "link", "delete", bridge, check=False)
        for tool in IPTABLES:
            remove_chains(tool, self._kept_chains(tool))
        for name, value in self.sysctls.items():
            if read_sysctls().get(name) != value:
                write_sysctl(name, value)
        created = [c for c in cgroups_named("kubepods") if str(c) not in self.cgroups]
        for cgroup in created:
            kill_cgroup_processes(cgroup)
        for cgroup in created:
            remove_cgroup_tree(cgroup)

    def leftovers(self, *, bridge: str, roots: tuple[Path, ...], markers: tuple[str, ...]) -> list[str]:
        """Everything that still differs from the captured host: empty after a clean stop."""
        from .processes import cmdline

        found = [f"mount {m}" for m in mounts_under(*roots)]
        if link_exists(bridge):
            found.append(f"network interface {bridge}")
        for tool in IPTABLES:
            kept = self._kept_chains(tool)
            for table, names in chains(tool).items():
                found += [f"{tool} chain {table}/{c}" for c in sorted(names) if _ours(c) and c not in kept.get(table, set())]
        now = read_sysctls()
        found += [f"sysctl {k}={now.get(k)} (was {v})" for k, v in self.sysctls.items() if now.get(k) != v]
        found += [f"cgroup {c}" for c in cgroups_named("kubepods") if str(c) not in self.cgroups]
        if Path("/run/netns").is_dir():
            found += [f"netns {p.name}" for p in Path("/run/netns").iterdir() if p.name not in self.netns]
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                line = cmdline(int(proc.name))
                if any(m in line for m in markers):
                    found.append(f"process {proc.name}: {line[:120]}")
        return found


def create_bridge(bridge: str, node_ip: str, prefix_len: int, service_cidr: str) -> None:
    """The pods' bridge, with the node address on it, and the ClusterIP range routed to it.

    The route keeps ClusterIP traffic that no rule rewrites on the bridge, instead of the default route.
    """
    if not link_exists(bridge):
        run("ip", "link", "add", bridge, "type", "bridge")
    run("ip", "addr", "replace", f"{node_ip}/{prefix_len}", "dev", bridge)
    run("ip", "link", "set", bridge, "up")
    run("ip", "route", "replace", service_cidr, "dev", bridge)


def isolate_pods(bridge: str, pod_cidr: str) -> None:
    """Pods reach each other, services and the node, and nothing else: no forwarding off the bridge."""
    run("iptables", "-w", "5", "-N", FORWARD_CHAIN, check=False)
    run("iptables", "-w", "5", "-F", FORWARD_CHAIN)
    run("iptables", "-w", "5", "-A", FORWARD_CHAIN, "-s", pod_cidr, "!", "-o", bridge, "-j", "DROP")
    run("iptables", "-w", "5", "-A", FORWARD_CHAIN, "-d", pod_cidr, "!", "-i", bridge, "-j", "DROP")
    if run("iptables", "-w", "5", "-C", "FORWARD", "-j", FORWARD_CHAIN, check=False).returncode:
        run("iptables", "-w", "5", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN)
