"""Licence review of a Python environment: what each installed distribution's metadata declares.

A distribution passes when its licence is permissive, or when a reviewed allow-list names it.
Forbidden families (BSL, AGPL, SSPL, GPL with no permissive alternative, proprietary) never pass:
the allow-list cannot wave them through. Anything the metadata does not state clearly is "unknown"
and must be reviewed and listed.

The licence is read, in order of authority, from the PEP 639 `License-Expression`, the `License`
field, then the trove classifiers (several licence classifiers are read as alternatives).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Verdict = Literal["permissive", "review", "forbidden"]

PERMISSIVE = {
    "MIT", "MIT-0", "MIT-CMU", "BSD", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Apache-2.0", "ISC",
    "PSF-2.0", "Python-2.0", "Zlib", "CC0-1.0", "Unlicense", "HPND",
}  # fmt: skip
FORBIDDEN = re.compile(
    r"BUSL|\bBSL\b|Business Source|AGPL|Affero|SSPL|Server Side Public|Commons Clause|Proprietary"
    r"|(?<![L\w])GPL|General Public License",
    re.IGNORECASE,
)
LESSER = re.compile(r"LGPL|Lesser General Public", re.IGNORECASE)
# Free-text spellings seen in the `License` field and in classifiers -> SPDX id.
ALIASES = {
    "mit license": "MIT", "the mit license (mit)": "MIT", "mit": "MIT",
    "apache 2.0": "Apache-2.0", "apache 2": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache 2.0 license": "Apache-2.0",
    "https://www.apache.org/licenses/license-2.0": "Apache-2.0",
    "bsd license": "BSD", "bsd": "BSD", "bsd 2-clause license": "BSD-2-Clause",
    "bsd 3-clause license": "BSD-3-Clause", "3-clause bsd license": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "python software foundation license": "PSF-2.0", "isc license (iscl)": "ISC", "isc license": "ISC",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
}  # fmt: skip
SPDX_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+-]+")


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    licence: str  # what the metadata says, as read
    verdict: Verdict
    needs: tuple[str, ...] = ()  # the non-permissive licences of the best alternative


def _verdict_of_id(licence: str) -> Verdict:
    if FORBIDDEN.search(licence) and not LESSER.search(licence):
        return "forbidden"
    return "permissive" if licence in PERMISSIVE else "review"


def _parse(tokens: list[str]) -> list[list[str]]:
    """An SPDX expression as alternatives (OR) of conjunctions (AND) of licence ids."""

    def expr(i: int) -> tuple[list[list[str]], int]:
        alternatives, i = term(i)
        while i < len(tokens) and tokens[i].upper() == "OR":
            right, i = term(i + 1)
            alternatives = alternatives + right
        return alternatives, i

    def term(i: int) -> tuple[list[list[str]], int]:
        left, i = atom(i)
        while i < len(tokens) and tokens[i].upper() == "AND":
            right, i = atom(i + 1)
            left = [a + b for a in left for b in right]
        return left, i

    def atom(i: int) -> tuple[list[list[str]], int]:
        if tokens[i] == "(":
            inner, i = expr(i + 1)
            return inner, i + 1
        licence = tokens[i]
        i += 1
        if i < len(tokens) and tokens[i].upper() == "WITH":  # an exception keeps the licence's family
            i += 2
        return [[licence]], i

    return expr(0)[0]


def _choose(alternatives: list[list[str]]) -> tuple[Verdict, tuple[str, ...]]:
    """The alternative that needs the least: permissive beats review beats forbidden."""
    rank = {"permissive": 0, "review": 1, "forbidden": 2}
    best: tuple[int, tuple[str, ...]] | None = None
    for ids in alternatives:
        verdicts = [_verdict_of_id(i) for i in ids]
        worst = max(rank[v] for v in verdicts)
        needs = tuple(i for i, v in zip(ids, verdicts, strict=True) if v != "permissive")
        if best is None or (worst, len(needs)) < (best[0], len(best[1])):
            best = (worst, needs)
    assert best is not None
    return next(v for v, r in rank.items() if r == best[0]), best[1]


def _as_spdx(text: str) -> str | None:
    """A `License` field or classifier as an SPDX expression, or None if it is not one."""
    text = text.strip()
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    tokens = SPDX_TOKEN.findall(text)
    ids = [t for t in tokens if t not in ("(", ")") and t.upper() not in ("AND", "OR", "WITH")]
    known = PERMISSIVE | {"MPL-2.0", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later"}
    if ids and all(i in known or FORBIDDEN.search(i) for i in ids) and "".join(tokens) == re.sub(r"\s", "", text):
        return text
    return None


def _first_line(text: str | None) -> str | None:
    """The licence's name: some distributions put the whole licence text in the `License` field."""
    for line in (text or "").splitlines():
        if line.strip(" #"):
            return line.strip(" #")
    return None


def classify(
    name: str, version: str, expression: str | None, field_text: str | None, classifiers: Iterable[str]
) -> Finding:
    licence_classifiers = [c.split("::")[-1].strip() for c in classifiers if c.startswith("License ::")]
    field_text = _first_line(field_text)
    declared = " / ".join(x for x in (expression, field_text, *licence_classifiers) if x)
    if declared and FORBIDDEN.search(declared) and not LESSER.search(declared) and not expression:
        return Finding(name, version, declared, "forbidden", (declared,))
    spdx = expression or (_as_spdx(field_text) if field_text else None)
    if spdx is None:
        mapped = [ALIASES.get(c.lower()) for c in licence_classifiers if c not in ("OSI Approved", "DFSG approved")]
        mapped = [m for m in mapped if m]
        spdx = " OR ".join(mapped) or None
    if spdx is None:
        return Finding(name, version, declared or "(none)", "review", ("unknown",))
    verdict, needs = _choose(_parse(SPDX_TOKEN.findall(spdx)))
    return Finding(name, version, spdx, verdict, needs)


@dataclass
class AllowList:
    """Reviewed exceptions: distribution name -> the licence reviewed and why it is acceptable."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> AllowList:
        data = tomllib.loads(path.read_text())
        entries = {canonical(k): v for k, v in data.get("allow", {}).items()}
        for name, entry in entries.items():
            if not entry.get("licence") or not entry.get("reason"):
                raise ValueError(f"{path}: allow.{name} needs both 'licence' and 'reason'")
        return cls(entries)

    def covers(self, finding: Finding) -> bool:
        entry = self.entries.get(canonical(finding.name))
        return finding.verdict == "review" and entry is not None and entry["licence"] == finding.licence


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> list[Finding]:
    """Every distribution installed in the running interpreter's environment."""
    from importlib.metadata import distributions

    seen: dict[str, Finding] = {}
    for dist in distributions():
        meta = dist.metadata
        name = meta["Name"]
        seen[canonical(name)] = classify(
            name, dist.version, meta.get("License-Expression"), meta.get("License"), meta.get_all("Classifier") or []
        )
    return sorted(seen.values(), key=lambda f: canonical(f.name))


def problems(findings: Iterable[Finding], allow: AllowList) -> list[str]:
    out = []
    for f in findings:
        if f.verdict == "permissive" or allow.covers(f):
            continue
        what = "forbidden licence" if f.verdict == "forbidden" else "not reviewed"
        out.append(f"{f.name} {f.version}: {what}: {f.licence}")
    return out
