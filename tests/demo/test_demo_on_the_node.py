"""`make demo` end to end on the real node: the loop the product exists for, with nothing played.

KServe runs the predictor pods, the chart runs the operator as a pod, the retraining Job's pod trains
v2, the gate decides and the promotion rolls out new pods; pinning v1 rolls it back. It starts a node of its own, so it runs
before the session's node (``node_lifecycle``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from explainops_devtools.demo import Demo, format_report

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.node_lifecycle,
    pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("KUBECONFIG")), reason="KUBECONFIG names a cluster of its own"),
]


def test_the_demo_retrains_and_promotes_on_real_pods(tmp_path: Path) -> None:
    demo = Demo(tmp_path / "demo", timeout_scale=2.0)
    (tmp_path / "demo").mkdir()
    try:
        report = demo.run()
    finally:
        demo.stop()
    status = report["status"]
    assert report["first_version"] == "v1"
    assert status["modelVersion"] == "v2"
    assert status["retraining"]["lastResult"]["outcome"] == "Promoted"
    assert report["kserve_status"]["Ready"] == "True"
    assert report["jobs"] == ["breast-cancer-retrain-1", "setup-models-breast-cancer"]
    assert report["pods_v1"] and report["pods_v2"] and set(report["pods_v1"]) != set(report["pods_v2"])
    # The drift hurt v1; v2, trained on the experts' labels, wins back most of it.
    drifted_v1, drifted_v2 = report["accuracy_after_drift"][0], report["accuracy_after_retraining"][0]
    assert report["accuracy_after_drift"][1] == "v1" and report["accuracy_after_retraining"][1] == "v2"
    assert drifted_v2 > drifted_v1 + 0.2
    assert "outcome Promoted" in format_report(report)
    # Rolled back by pinning v1: the same address answers with v1 again.
    assert report["rolled_back_to"] == "v1"
