"""The documents explainers return, as types: the response schema of `:explain` and of the ALE route.

Both backends produce exactly these (tests/explainers checks each backend against them), and the
OpenAPI document publishes them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attribution(_Document):
    feature: str
    value: float = Field(description="SHAP value of the feature for the predicted class")


class ShapExplanation(_Document):
    """Additive feature attributions of one instance (KernelShap or TreeShap), one per original column
    (a categorical column gets one value, whatever encoding the model's pipeline applies). A classifier's
    outputs are its classes; a regressor has one output, its predicted value."""

    type: Literal["kernel_shap", "tree_shap"]
    predicted_class: int | None = Field(
        default=None, ge=0, description="Index of the predicted class (into class names); classifiers only"
    )
    predicted_class_name: str | None = Field(default=None, description="Classifiers only")
    predicted_value: float | None = Field(default=None, description="The predicted value; regressors only")
    expected_value: list[float] = Field(
        description="Per output c: the base value E[f_c] over the background (in link space for KernelShap "
        "with link=logit). expected_value[c] + sum(shap_values[c]) equals the model output c."
    )
    shap_values: list[list[float]] = Field(
        description="shap_values[output][feature]: the attribution of each feature to each output, "
        "features in the order of feature_names"
    )
    feature_names: list[str]
    top_features: list[Attribution] = Field(
        max_length=5, description="The five largest attributions to the predicted class, by magnitude"
    )


class AnchorExplanation(_Document):
    """An if-then rule: while every predicate holds, the model keeps its prediction with `precision`."""

    type: Literal["anchor"]
    anchor: list[str] = Field(
        description="Predicates joined by AND, e.g. 'worst radius > 16.8', '0.1 < mean smoothness <= 0.2' or, "
        "for a categorical column, 'colour = red'"
    )
    precision: float = Field(ge=0, le=1, description="Share of samples satisfying the anchor that keep the prediction")
    coverage: float = Field(ge=0, le=1, description="Share of the background data on which the anchor holds")
    predicted_class: int = Field(ge=0)
    predicted_class_name: str


class AleFeature(_Document):
    feature: str
    feature_values: list[float] = Field(description="Grid of the feature's values, ascending")
    ale_values: list[list[float]] = Field(description="ale_values[grid point][class]: the centred ALE curve")
    ale0: list[float] = Field(description="Per class: the constant subtracted to centre the curve")


class AleExplanation(_Document):
    """Accumulated Local Effects of every numeric feature on every output: the class probabilities, or a
    regressor's value (a global explanation)."""

    type: Literal["ale"]
    target_names: list[str]
    constant_value: list[float] = Field(description="Per output: the mean prediction")
    features: list[AleFeature]
    skipped_categorical: list[str] = Field(
        default_factory=list, description="Categorical columns, which ALE (ordered values) leaves out"
    )


LocalExplanation = Annotated[ShapExplanation | AnchorExplanation, Field(discriminator="type")]
