"""`import_loader`: the artifact's loader is imported before the web stack, and a bad URI is left to
`load_artifact` to report."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
from explainops_server.models.artifact import import_loader
import_loader(sys.argv[1])
print("skops.io" in sys.modules, "fastapi" in sys.modules)
"""


def loaded_after(uri: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK, uri], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_skops_artifact_gets_its_loader_and_nothing_of_the_web_stack(small_model):
    assert loaded_after(str(small_model.version_dir)) == "True False"


def test_a_bad_uri_is_left_to_load_artifact(tmp_path):
    assert loaded_after(str(tmp_path / "missing")) == "False False"
    assert loaded_after("s3://bucket/model") == "False False"
