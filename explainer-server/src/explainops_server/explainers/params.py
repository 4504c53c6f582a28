"""Typed explainer parameters: the one source of their names, types, bounds and defaults.

Both backends take the same parameters for the same explainer, so a configuration moves between them
unchanged. The server checks them at start (`ServerSettings`), the explainers again when they are built.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from explainops_server.errors import ConfigurationError

Seed = Annotated[int, Field(ge=0, le=2**32 - 1, description="Seed of the explainer's random sampling.")]


class ExplainerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AnchorParams(ExplainerParams):
    threshold: float = Field(default=0.95, ge=0.5, le=1.0, description="Minimum precision of an anchor.")
    batch_size: int = Field(default=500, ge=1, le=10_000, description="Perturbations per bandit pull.")
    coverage_samples: int = Field(
        default=2000, ge=1, le=100_000, description="Rows drawn to estimate the coverage of an anchor."
    )
    beam_size: int = Field(default=1, ge=1, le=20, description="Candidate anchors kept per round.")
    max_anchor_size: int | None = Field(default=None, ge=1, le=100, description="Most predicates.")
    delta: float = Field(default=0.1, gt=0, lt=1, description="Confidence 1 - delta of the bandit.")
    tau: float = Field(default=0.15, gt=0, lt=1, description="Tolerance of the bandit's best-arm choice.")
    disc_perc: tuple[Annotated[int, Field(ge=1, le=99)], ...] = Field(
        default=(25, 50, 75), min_length=1, max_length=9, description="Percentiles that cut features."
    )
    seed: Seed = 0


class KernelShapParams(ExplainerParams):
    nsamples: int = Field(default=200, ge=10, le=100_000, description="Coalitions per instance.")
    background_size: int = Field(
        default=50, ge=1, le=10_000, description="Background rows (k-means summarised when fewer)."
    )
    link: Literal["identity", "logit"] = Field(default="identity", description="Link to the output.")
    seed: Seed = 0


class TreeShapParams(ExplainerParams):
    model_output: Literal["raw"] = Field(default="raw", description="The estimator's own output.")
    feature_perturbation: Literal["tree_path_dependent", "interventional"] = "tree_path_dependent"
    background_size: int = Field(
        default=100, ge=1, le=10_000, description="Background rows of interventional TreeShap."
    )


class AleParams(ExplainerParams):
    min_bin_points: int = Field(default=4, ge=1, le=10_000, description="Fewest points per feature bin.")


def parse_params(explainer: str, model: type[ExplainerParams], params: dict[str, Any]) -> ExplainerParams:
    """The parameters as their typed model, or one line naming the first bad one."""
    unknown = sorted(set(params) - set(model.model_fields))
    if unknown:
        raise ConfigurationError(
            f"explainer {explainer!r} does not take parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(model.model_fields)) or 'none'}"
        )
    try:  # JSON mode: strict types, yet a JSON list may fill a tuple field
        return model.model_validate_json(json.dumps(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e['input']!r:.40})" for e in exc.errors()
        )
        raise ConfigurationError(f"explainer {explainer!r} parameter {problems}") from None


# Explainer configuration name -> its parameters (the names `--explainer` takes).
EXPLAINER_PARAMS: dict[str, type[ExplainerParams]] = {
    "anchor_tabular": AnchorParams,
    "kernel_shap": KernelShapParams,
    "tree_shap": TreeShapParams,
    "ale": AleParams,
}
