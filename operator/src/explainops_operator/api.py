"""Pure: the ExplainableModel API's identity (group, version, kind). Its typed spec is `spec`."""

from __future__ import annotations

GROUP = "explainops.dev"
VERSION = "v1alpha1"
PLURAL = "explainablemodels"
KIND = "ExplainableModel"
