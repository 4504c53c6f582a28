"""explainops_server: the ExplainOps data plane.

`explainops_server.package(estimator, X, y, out=ROOT)` packages a fitted scikit-learn estimator as a
validated artifact version (see `service.packaging`); it is imported on first use, not with the package.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "package":
        from explainops_server.service.packaging import package

        return package
    raise AttributeError(f"module 'explainops_server' has no attribute {name!r}")
