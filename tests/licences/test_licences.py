"""Every distribution in this environment is permissively licensed, or reviewed in licence-allowlist.toml.

Run in the default venv (requirements.lock). The checker itself is tested on the licence strings that
matter, and on the alibi venv, where it must find alibi's Business Source License.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from explainops_devtools.licences import AllowList, canonical, classify, installed, problems

ROOT = Path(__file__).parents[2]
ALLOWLIST = ROOT / "licence-allowlist.toml"
ALIBI_PYTHON = Path(os.environ.get("EXPLAINOPS_ALIBI_PYTHON", ROOT / ".venv-alibi/bin/python"))


def test_every_installed_distribution_has_a_permissive_or_reviewed_licence():
    findings = installed()
    assert len(findings) > 50, "the whole environment is read, not a handful of packages"
    names = {canonical(f.name) for f in findings}
    assert {"numpy", "shap", "kserve", "scikit-learn", "explainops-server"} <= names
    assert "alibi" not in names and "spacy" not in names, "the default environment must not hold alibi"
    assert problems(findings, AllowList.load(ALLOWLIST)) == []


def test_every_allowlist_entry_is_still_needed_and_matches_what_is_installed():
    allow = AllowList.load(ALLOWLIST)
    needing = {canonical(f.name): f for f in installed() if f.verdict == "review"}
    for name, entry in allow.entries.items():
        assert name in needing, f"{name} is allow-listed but installed with a permissive licence, or not at all"
        assert needing[name].licence == entry["licence"], (name, needing[name].licence)


@pytest.mark.parametrize(
    ("expression", "field", "classifiers", "verdict"),
    [
        ("MIT", None, [], "permissive"),
        ("Apache-2.0 AND BSD-2-Clause", None, [], "permissive"),
        ("GPL-2.0-or-later OR MIT", None, [], "permissive"),
        ("MPL-2.0 AND (Apache-2.0 OR MIT)", None, [], "review"),
        (None, "LGPL-3.0-only", [], "review"),
        ("BUSL-1.1", None, [], "forbidden"),
        (None, "Business Source License 1.1", ["License :: Other/Proprietary License"], "forbidden"),
        ("AGPL-3.0-only", None, [], "forbidden"),
        ("GPL-3.0-only", None, [], "forbidden"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", None, [], "forbidden"),
        (None, None, ["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"], "forbidden"),
        (None, "SSPL-1.0", [], "forbidden"),
        (None, "BSD 3-Clause License\n\nCopyright (c) ... the whole text", [], "permissive"),
        (None, "Copyright (c) 2001 Someone", ["License :: OSI Approved :: BSD License"], "permissive"),
        (None, "Dual License", ["License :: OSI Approved :: BSD License", "License :: OSI Approved :: Apache Software License"], "permissive"),
        (None, None, [], "review"),
        (None, "Some custom terms", ["License :: OSI Approved"], "review"),
    ],
)
def test_the_checker_reads_licence_metadata(expression, field, classifiers, verdict):
    assert classify("pkg", "1", expression, field, classifiers).verdict == verdict


def test_an_allowlist_cannot_wave_a_forbidden_licence_through(tmp_path):
    path = tmp_path / "allow.toml"
    path.write_text('[allow.alibi]\nlicence = "Business Source License 1.1"\nreason = "no"\n')
    finding = classify("alibi", "0.9.6", None, "Business Source License 1.1", [])
    assert problems([finding], AllowList.load(path)) == [
        "alibi 0.9.6: forbidden licence: Business Source License 1.1"
    ]


def test_the_alibi_venv_is_found_to_hold_alibis_business_source_licence():
    if not ALIBI_PYTHON.exists():
        pytest.skip(f"no alibi venv at {ALIBI_PYTHON}: run `make install-alibi`")
    dump = (
        "import json, importlib.metadata as m;"
        "print(json.dumps([[d.metadata['Name'], d.version, d.metadata.get('License-Expression'),"
        " d.metadata.get('License'), d.metadata.get_all('Classifier') or []] for d in m.distributions()]))"
    )
    out = subprocess.run([str(ALIBI_PYTHON), "-c", dump], capture_output=True, text=True, timeout=120, check=True)
    findings = [classify(*row) for row in json.loads(out.stdout)]
    found = problems(findings, AllowList.load(ALLOWLIST))
    assert any(p.startswith("alibi 0.9.6: forbidden licence") for p in found), found
