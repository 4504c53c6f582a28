"""``python -m explainops_devtools.cluster up|down|status``: the cluster behind `make cluster-up` / `cluster-down`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from .cluster import Cluster
from .errors import ClusterError
from .settings import ClusterSettings


def _state_file(settings: ClusterSettings) -> Path:
    return settings.state_dir / "state.json"


def _print_usage(state: dict, rss: dict[str, int | None]) -> None:
    total = sum(v for v in rss.values() if v)
    print(f"server:     {state['server']}")
    print(f"kubeconfig: {state['kubeconfig']}")
    print(f"logs:       {state['workdir']}/logs/*.log")
    for name, pid in state["pids"].items():
        value = rss.get(name)
        print(f"  {name:<24} pid {pid:<8} rss {'n/a' if value is None else f'{value / 2**20:.0f} MiB'}")
    print(f"total rss:  {total / 2**20:.0f} MiB (cluster processes; pods not counted)")
    print()
    print("Point kubectl at it:")
    print(f"  export KUBECONFIG={state['kubeconfig']}")
    print("  kubectl get nodes -o wide")
    print("  kubectl get inferenceservices,pods -A")


def cmd_up(settings: ClusterSettings) -> int:
    state_file = _state_file(settings)
    if state_file.exists():
        state = json.loads(state_file.read_text())
        old = Cluster.from_state(state, settings)
        if all(p.is_ours() for p in old.processes.values()):
            print("cluster already running")
            _print_usage(state, old.rss())
            return 0
        print("a previous cluster died half-way: cleaning it up first")
        old.stop()
        state_file.unlink()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(settings, workdir=Path(tempfile.mkdtemp(prefix="run-", dir=settings.state_dir)), detached=True)
    try:
        cluster.start()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = cluster.describe()
    state_file.write_text(json.dumps(state, indent=2))
    print(f"cluster ready in {cluster.timings['total']:.1f} s:",
          ", ".join(f"{k} {v:.1f}" for k, v in cluster.timings.items() if k != "total"))
    _print_usage(state, cluster.rss())
    print("Stop it with `make cluster-down`.")
    return 0


def cmd_down(settings: ClusterSettings, workdir: Path | None = None) -> int:
    state_file = workdir / "state.json" if workdir else _state_file(settings)
    if not state_file.exists():
        print("no cluster running (no state file)")
        return 0
    cluster = Cluster.from_state(json.loads(state_file.read_text()), settings)
    cluster.stop()
    state_file.unlink(missing_ok=True)
    left = cluster.host.leftovers(bridge=settings.bridge, roots=cluster._roots(), markers=cluster._markers()) if cluster.host else []
    print("cluster stopped" + ("" if not left else "; left behind: " + "; ".join(left)))
    return 0 if not left else 1


def cmd_status(settings: ClusterSettings) -> int:
    state_file = _state_file(settings)
    if not state_file.exists():
        print("no cluster running")
        return 1
    state = json.loads(state_file.read_text())
    cluster = Cluster.from_state(state, settings)
    alive = {n: p.is_ours() for n, p in cluster.processes.items()}
    print("running" if all(alive.values()) else f"DEGRADED: {alive}")
    _print_usage(state, cluster.rss())
    return 0 if all(alive.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explainops_devtools.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="down: the working directory of a cluster another program started (e.g. the demo's)")
    args = parser.parse_args(argv)
    settings = ClusterSettings()
    try:
        if args.command == "down":
            return cmd_down(settings, args.workdir)
        return {"up": cmd_up, "status": cmd_status}[args.command](settings)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
