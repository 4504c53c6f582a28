"""`explainops_server.package` is imported on first use (nothing heavy at `import explainops_server`),
and start-up problems go to the termination-message file Kubernetes reads."""

from __future__ import annotations

import os
import subprocess
import sys

from explainops_server import cli


def test_importing_the_package_loads_no_packaging_code():
    probe = (
        "import sys, explainops_server; "
        "assert 'explainops_server.service.packaging' not in sys.modules; "
        "assert 'sklearn' not in sys.modules and 'skops' not in sys.modules; "
        "from explainops_server import package; "
        "assert 'explainops_server.service.packaging' in sys.modules and callable(package)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_the_termination_log_is_the_given_file_else_kubernetes_file_only_when_writable(tmp_path, monkeypatch):
    given = tmp_path / "log"
    assert cli.termination_log_path(str(given)) == given
    monkeypatch.setattr(cli, "KUBERNETES_TERMINATION_LOG", tmp_path / "missing")
    assert cli.termination_log_path(None) is None
    present = tmp_path / "termination-log"
    present.write_text("")
    monkeypatch.setattr(cli, "KUBERNETES_TERMINATION_LOG", present)
    assert cli.termination_log_path(None) == present
    present.chmod(0o400)
    try:
        if os.geteuid() != 0:  # root may write a read-only file anyway
            assert cli.termination_log_path(None) is None
    finally:
        present.chmod(0o600)


def test_problems_are_one_line_each_on_stderr_and_in_the_log(tmp_path, capsys):
    log = tmp_path / "log"
    code = cli.report_problems(["explainer: TreeShap needs a tree ensemble", "class_names: do not match"], log,
                               "cannot start")  # fmt: skip
    assert code == cli.EXIT_STARTUP
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "explainops-server: cannot start (2 problems):",
        "explainops-server: explainer: TreeShap needs a tree ensemble",
        "explainops-server: class_names: do not match",
    ]
    assert log.read_text() == "explainer: TreeShap needs a tree ensemble\nclass_names: do not match"
