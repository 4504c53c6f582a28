"""Package a fitted scikit-learn estimator as one complete, validated artifact version.

`package(estimator, X, y, out=ROOT)` (also `explainops-server package`) writes `ROOT/<version>/`:
the estimator as skops, `metadata.json` derived from the estimator and the data (feature names,
categorical columns and their categories, classes or regression), a background sample, unless the
training data already lives somewhere `train.csv`, and given `holdout` rows `holdout.csv`: the quality
gate's base holdout, which no retrained version trains on. The version is written to a hidden sibling,
validated there (load through the skops allow-list, checks against the metadata, predict, one
explanation) and only then renamed into place, so a failed package leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explainops_server.errors import ArtifactError, ExplainOpsError
from explainops_server.explainers.compat import TREE_ENSEMBLES
from explainops_server.models import storage
from explainops_server.models.artifact import ModelMetadata, estimator_name, write_artifact, write_feature_csv
from explainops_server.models.check import is_classifier
from explainops_server.models.features import FeatureSchema
from explainops_server.service.validation import ValidationReport, validate_artifact

DEFAULT_BACKGROUND_ROWS = 100
TRAIN_FILE = "train.csv"
HOLDOUT_FILE = "holdout.csv"


class PackagingError(ExplainOpsError):
    """The estimator and data cannot be packaged; `problems` lists why, one line each."""

    kind = "packaging_error"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Packaged:
    uri: str  # the version written: a local path or s3://bucket/prefix/version
    metadata: ModelMetadata
    report: ValidationReport


def default_explainer(estimator: Any) -> str:
    """What validation explains with: TreeShap for a bare tree ensemble, KernelShap otherwise."""
    return "tree_shap" if type(estimator).__name__ in TREE_ENSEMBLES else "kernel_shap"


def _table(x: Any, feature_names: list[str] | None) -> tuple[list[str], dict[str, list[str]], np.ndarray]:
    """Feature names, categories and the rows in numeric form, from a DataFrame or a 2-D array."""
    if hasattr(x, "columns") and hasattr(x, "dtypes"):
        names = [str(c) for c in x.columns]
        categories = {}
        for name, column in zip(names, x.columns, strict=True):
            values = x[column]
            if values.dtype.kind not in "biuf":  # object, string, category, bool: a categorical column
                categories[name] = sorted({str(v) for v in values.dropna().tolist()})
                if values.isna().any():
                    raise PackagingError(
                        [f"X[{name!r}]: missing values are not supported in categorical columns"]
                    )
        schema = FeatureSchema(names, categories)
        rows = x.astype(object).to_numpy().tolist()
        return names, categories, schema.encode_rows([[_plain(v) for v in row] for row in rows], "X")
    array = np.asarray(x)
    if array.ndim != 2:
        raise PackagingError([f"X: expected a 2-D table, got shape {list(array.shape)}"])
    names = feature_names or [f"x{i}" for i in range(array.shape[1])]
    if len(names) != array.shape[1]:
        raise PackagingError([f"feature_names: {len(names)} names for {array.shape[1]} columns"])
    try:
        rows = array.astype(np.float64)
    except (TypeError, ValueError):
        raise PackagingError(
            ["X: a plain array must be numeric; pass a DataFrame for categorical columns"]
        ) from None
    if not np.isfinite(rows).all():
        raise PackagingError(["X: NaN and infinity are not supported"])
    return list(names), {}, rows


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return str(value)
    return value


def package(
    estimator: Any,
    x: Any,
    y: Any = None,
    *,
    out: str | Path,
    version: str = "v1",
    name: str | None = None,
    task: str | None = None,
    feature_names: list[str] | None = None,
    target_name: str = "target",
    background_size: int = DEFAULT_BACKGROUND_ROWS,
    training_data: str | None = None,
    trusted_types: list[str] | None = None,
    explainer: str | None = None,
    holdout: tuple[Any, Any] | None = None,
    seed: int = 0,
) -> Packaged:
    """Write and validate `out/<version>/` (`out` a directory or `s3://bucket/prefix`).

    `x` is the training table (a DataFrame, or a numeric array with `feature_names`), `y` its target;
    both are kept as `train.csv` for retraining unless `training_data` names where they live.
    `holdout` = (X, y) rows the estimator was not fitted on, kept as `holdout.csv` for the gate.
    """
    problems: list[str] = []
    fitted_task = "classification" if is_classifier(estimator) else "regression"
    task = task or fitted_task
    if task not in ("classification", "regression"):
        problems.append(f"task: must be classification or regression, not {task!r}")
    elif task != fitted_task:
        problems.append(f"task: {task} given, but {type(estimator).__name__} is a {fitted_task} model")
    if background_size < 1:
        problems.append("background_size: must be at least 1")
    if problems:
        raise PackagingError(problems)
    names, categories, rows = _table(x, feature_names)
    if len(rows) == 0:
        raise PackagingError(["X: holds no rows"])
    class_names = (
        [str(c) for c in np.asarray(estimator.classes_).tolist()]
        if task == "classification" and hasattr(estimator, "classes_")
        else []
    )
    rng = np.random.default_rng(seed)
    background = rows[rng.choice(len(rows), size=min(background_size, len(rows)), replace=False)]
    name = name or Path(str(out).rstrip("/")).name or "model"

    with tempfile.TemporaryDirectory(prefix="explainops-package-") as scratch:
        local_root, remote = _local_root(out, Path(scratch))
        staging = local_root / f".{version}.partial"
        target = local_root / version
        if not remote and target.exists():
            raise PackagingError([f"out: {target} already exists; choose another --version"])
        if remote and storage.exists(storage.join(str(out), version, "metadata.json")):
            raise PackagingError(
                [f"out: {storage.join(str(out), version)} already exists; choose another --version"]
            )
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if training_data is None and y is not None:
                write_feature_csv(
                    staging / TRAIN_FILE,
                    names,
                    rows,
                    _target_cells(y, class_names),
                    categories=categories,
                    target_name=target_name,
                )
                training_data = (
                    storage.join(str(out), version, TRAIN_FILE) if remote else (target / TRAIN_FILE).as_uri()
                )
            holdout_data = None
            if holdout is not None:
                hold_names, _, hold_rows = _table(holdout[0], feature_names)
                if hold_names != names:
                    raise PackagingError([f"holdout: columns {hold_names} differ from X's {names}"])
                write_feature_csv(
                    staging / HOLDOUT_FILE,
                    names,
                    hold_rows,
                    _target_cells(holdout[1], class_names),
                    categories=categories,
                    target_name=target_name,
                )
                holdout_data = (
                    storage.join(str(out), version, HOLDOUT_FILE) if remote else (target / HOLDOUT_FILE).as_uri()
                )
            metadata = write_artifact(
                staging,
                estimator=estimator,
                name=name,
                version=version,
                feature_names=names,
                class_names=class_names,
                background=background,
                params=_params(estimator),
                training_data=training_data,
                holdout_data=holdout_data,
                task=task,
                categories=categories,
                target_name=target_name,
                trusted_types=trusted_types,
            )
            report = validate_artifact(
                str(staging), explainer=explainer or default_explainer(estimator), name=name
            )
            if explainer is None and not report.ok and all(p.startswith("explainer:") for p in report.problems):
                # The artifact is sound; only the guessed explainer does not fit (e.g. TreeShap on a
                # multiclass GradientBoostingClassifier). KernelShap explains any model.
                report = validate_artifact(str(staging), explainer="kernel_shap", name=name)
            if not report.ok:
                raise PackagingError(report.problems)
            if remote:
                storage.upload_dir(staging, storage.join(str(out), version))
            else:
                staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    uri = storage.join(str(out), version) if remote else str(target)
    return Packaged(uri, metadata, report)


def _local_root(out: str | Path, scratch: Path) -> tuple[Path, bool]:
    if storage.is_remote(str(out)):
        return scratch, True
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve(), False


def _target_cells(y: Any, class_names: list[str]) -> np.ndarray:
    """Class labels as class indices, or regression values as floats."""
    values = np.asarray(y)
    if class_names:
        index = {name: i for i, name in enumerate(class_names)}
        try:
            return np.array([index[str(_plain(v))] for v in values.tolist()], dtype=np.int64)
        except KeyError as exc:
            raise PackagingError(
                [f"y: label {exc.args[0]!r} is not one of the estimator's classes"]
            ) from None
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        raise PackagingError(["y: a regression target must be numeric"]) from None


def _params(estimator: Any) -> dict[str, Any] | None:
    """JSON-ready top-level parameters (informational; retraining clones the estimator itself)."""
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return None
    return {k: v for k, v in params.items() if isinstance(v, str | int | float | bool) or v is None}


def read_training_csv(path: str, target: str, estimator: Any) -> tuple[Any, Any]:
    """The `--train` CSV as a DataFrame of features (in the estimator's column order) and the target."""
    import pandas as pd

    local = storage.fetch_file(path)
    try:
        frame = pd.read_csv(local)
    except Exception as exc:
        raise PackagingError([f"train: cannot read {path}: {exc}"]) from None
    if target not in frame.columns:
        raise PackagingError(
            [
                f"target: column {target!r} is not in {path} (columns: {', '.join(map(str, frame.columns[:10]))})"
            ]
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        columns = [str(c) for c in np.asarray(fitted).tolist()]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise PackagingError([f"train: {path} lacks the estimator's column(s) {', '.join(missing[:5])}"])
    else:
        columns = [str(c) for c in frame.columns if c != target]
    return frame[columns], frame[target]


def package_file(
    model_file: str,
    train_csv: str,
    target: str,
    out: str,
    *,
    trust_pickle: bool = False,
    holdout_csv: str | None = None,
    **options: Any,
) -> Packaged:
    """`explainops-server package`: the estimator from a .skops (or, trusted, .joblib) file."""
    from explainops_server.models.artifact import load_estimator

    path = Path(storage.fetch_file(model_file))
    fmt = "joblib" if path.suffix in (".joblib", ".pkl", ".pickle") else "skops"
    try:
        estimator = load_estimator(
            path, fmt, trust_pickle=trust_pickle, extra_trusted=options.get("trusted_types")
        )
    except ArtifactError as exc:
        raise PackagingError([f"model: {exc.detail}"]) from None
    x, y = read_training_csv(train_csv, target, estimator)
    training_data = train_csv if storage.is_remote(train_csv) else Path(train_csv).resolve().as_uri()
    holdout = read_training_csv(holdout_csv, target, estimator) if holdout_csv else None
    return package(
        estimator, x, y, out=out, target_name=target, training_data=training_data, holdout=holdout, **options
    )


__all__ = ["Packaged", "PackagingError", "estimator_name", "package", "package_file"]
