"""Model artifact: a version directory with the estimator, `metadata.json` and `background.csv`.

The layout is fixed in docs/architecture.md. skops is the safe default; joblib/pickle loads only
when the caller trusts it explicitly, because unpickling runs arbitrary code.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from explainops_server.errors import ArtifactError, InvalidInput
from explainops_server.models.check import estimator_problems
from explainops_server.models.features import FeatureSchema

log = logging.getLogger(__name__)

# Types a skops artifact may instantiate beyond those skops itself trusts (builtins, numpy and
# scipy primitives, and scikit-learn's own estimators and transformers). Everything else is refused at
# load time, before any object is built. These are the loss and link objects of the gradient-boosting
# estimators, the binning of HistGradientBoosting and the trees: data holders with no code paths of their own.
# An artifact may extend the list only through its `trusted_types` (written by `package --trust-type`),
# which the loader logs and `validate` prints.
TRUSTED_SKOPS_TYPES: frozenset[str] = frozenset(
    {
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # The fitted arrays of every decision tree; skops >= 0.14 no longer trusts it by itself.
        "sklearn.tree._tree.Tree",
    }
)

TASKS = ("classification", "regression")
METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    format: str
    model_file: str
    feature_names: list[str]
    background: str
    # classification: class names in the order of predict_proba's columns; regression: empty
    class_names: list[str] = field(default_factory=list)
    task: str = "classification"
    # categorical column -> its categories (sorted); rows carry these strings
    categories: dict[str, list[str]] = field(default_factory=dict)
    # the training CSV's target column
    target_name: str = "target"
    # skops types this artifact needs beyond TRUSTED_SKOPS_TYPES, listed by whoever packaged it
    trusted_types: list[str] = field(default_factory=list)
    estimator: str = ""
    params: dict[str, Any] | None = None
    training_data: str | None = None
    # Rows no version of this model ever trains on (a CSV like training_data); the quality gate scores
    # champion and candidate on them. Inherited by every retrained version.
    holdout_data: str | None = None
    parent_version: str | None = None
    created_at: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMetadata:
        required = ("name", "version", "format", "model_file", "feature_names", "background")
        missing = [key for key in required if key not in raw]
        if missing:
            raise ArtifactError(f"{METADATA_FILE} lacks required field(s): {', '.join(missing)}")
        known = {f: raw[f] for f in cls.__dataclass_fields__ if f in raw and raw[f] is not None}
        problems = metadata_problems(known)
        if problems:
            raise ArtifactError("; ".join(problems))
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def output_names(self) -> list[str]:
        """Names of the model's outputs: the classes, or the regression target."""
        return [self.target_name] if self.is_regression else list(self.class_names)


def metadata_problems(raw: dict[str, Any]) -> list[str]:
    """Every inconsistency of a metadata document, each naming its field."""
    problems = []
    names = raw.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        problems.append(f"{METADATA_FILE}: feature_names must be a non-empty list of strings")
        names = []
    elif len(set(names)) != len(names):
        problems.append(f"{METADATA_FILE}: feature_names holds duplicates")
    task = raw.get("task", "classification")
    classes = raw.get("class_names", [])
    if task not in TASKS:
        problems.append(f"{METADATA_FILE}: task must be one of {', '.join(TASKS)}, not {task!r}")
    elif task == "classification" and (not isinstance(classes, list) or len(classes) < 2):
        problems.append(f"{METADATA_FILE}: class_names must list at least two classes for classification")
    elif task == "regression" and classes:
        problems.append(f"{METADATA_FILE}: class_names must be empty for regression")
    categories = raw.get("categories", {})
    if not isinstance(categories, dict):
        problems.append(f"{METADATA_FILE}: categories must map column names to lists of strings")
    else:
        for column, values in categories.items():
            if column not in names:
                problems.append(f"{METADATA_FILE}: categories names {column!r}, which is not a feature")
            elif not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                problems.append(f"{METADATA_FILE}: categories[{column!r}] must be a non-empty list of strings")
    trusted = raw.get("trusted_types", [])
    if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
        problems.append(f"{METADATA_FILE}: trusted_types must be a list of type names")
    return problems


@dataclass(frozen=True)
class LoadedArtifact:
    directory: Path
    metadata: ModelMetadata
    estimator: Any
    background: np.ndarray  # numeric form (see features.FeatureSchema)
    schema: FeatureSchema


def uri_to_path(uri: str) -> Path:
    """A plain path or a `file://` URI to a local path; `s3://` is fetched by `models.storage` first."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
    raise ArtifactError(f"unsupported URI scheme {parsed.scheme!r} in {uri!r} (use a path, file:// or s3://)")


def read_metadata(version_dir: Path) -> ModelMetadata:
    path = version_dir / METADATA_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"no {METADATA_FILE} in {version_dir}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path} must hold a JSON object")
    return ModelMetadata.from_dict(raw)


def schema_of(metadata: ModelMetadata, estimator: Any = None) -> FeatureSchema:
    return FeatureSchema(
        list(metadata.feature_names),
        {k: list(v) for k, v in metadata.categories.items()},
        dataframe_input=hasattr(estimator, "feature_names_in_"),
    )


def read_feature_csv(
    path: Path,
    feature_names: list[str],
    categories: dict[str, list[str]] | None = None,
    *,
    target_name: str = "target",
    class_names: list[str] | None = None,
    regression: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of a feature CSV (header = feature names, optional target column) in numeric form.

    Categorical cells become category codes. A classification target is a class name or a class
    index; a regression target a number. Returns (features, target or None).
    """
    schema = FeatureSchema(list(feature_names), categories or {})
    try:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = [row for row in reader if row]
    except (OSError, StopIteration, UnicodeDecodeError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from None
    missing = [name for name in feature_names if name not in header]
    if missing:
        raise ArtifactError(f"{path} lacks feature column(s): {', '.join(missing[:5])}")
    columns = [header.index(name) for name in feature_names]
    target_at = header.index(target_name) if target_name in header else None
    try:
        features = np.array(
            [
                [schema.encode_value(name, row[i], f"{path.name} row {n + 2} column {name!r}")
                 for name, i in zip(feature_names, columns, strict=True)]
                for n, row in enumerate(rows)
            ],
            dtype=np.float64,
        )
        target = None
        if target_at is not None:
            cells = [row[target_at] for row in rows]
            target = (
                np.array([float(c) for c in cells], dtype=np.float64)
                if regression
                else np.array([_class_index(c, class_names) for c in cells], dtype=np.int64)
            )
    except (ValueError, IndexError) as exc:
        raise ArtifactError(f"{path} holds a non-numeric or short row: {exc}") from None
    except InvalidInput as exc:
        raise ArtifactError(exc.detail) from None
    if features.shape[0] == 0:
        raise ArtifactError(f"{path} holds no rows")
    return features.reshape(len(rows), len(feature_names)), target


def _class_index(cell: str, class_names: list[str] | None) -> int:
    if class_names and cell in class_names:
        return class_names.index(cell)
    return int(float(cell))


def write_feature_csv(
    path: Path,
    feature_names: list[str],
    features: np.ndarray,
    target: Any = None,
    *,
    categories: dict[str, list[str]] | None = None,
    target_name: str = "target",
) -> None:
    """Write rows in numeric form as a CSV of original values (category strings, not codes)."""
    schema = FeatureSchema(list(feature_names), categories or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*feature_names, *([target_name] if target is not None else [])])
        for i, row in enumerate(schema.decode_rows(np.asarray(features, dtype=np.float64))):
            values = [v if isinstance(v, str) else repr(float(v)) for v in row]
            if target is not None:
                value = target[i]
                values.append(repr(float(value)) if isinstance(value, float | np.floating) else int(value))
            writer.writerow(values)


def _load_skops(path: Path, extra_trusted: list[str]) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises zipfile/json/key errors for damaged files
        raise ArtifactError(f"{path} is not a readable skops file: {exc}") from None
    allowed = TRUSTED_SKOPS_TYPES | set(extra_trusted)
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise ArtifactError(
            f"{path} needs types outside the trusted set: {', '.join(refused)}. After reviewing them, "
            "list them in metadata.json `trusted_types` (package --trust-type TYPE)"
        )
    if set(untrusted) & set(extra_trusted):
        log.warning(
            "%s: loading types trusted by the artifact itself: %s",
            path,
            ", ".join(sorted(set(untrusted) & set(extra_trusted))),
        )
    try:
        return skops.io.load(path, trusted=[t for t in untrusted if t in allowed])
    except Exception as exc:
        raise ArtifactError(f"{path} could not be loaded by skops: {exc}") from None


def _load_joblib(path: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise ArtifactError(
            f"{path} is a joblib/pickle artifact; loading it runs code from the file. "
            "Pass --trust-pickle (EXPLAINOPS_TRUST_PICKLE=true) only if you trust its origin."
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:
        raise ArtifactError(f"{path} could not be unpickled: {exc}") from None


def load_estimator(path: Path, fmt: str, *, trust_pickle: bool = False, extra_trusted: list[str] | None = None) -> Any:
    if fmt == "skops":
        return _load_skops(path, extra_trusted or [])
    if fmt == "joblib":
        return _load_joblib(path, trust_pickle)
    raise ArtifactError(f"unknown model format {fmt!r} (skops | joblib)")


def import_loader(uri: str, model_format: str | None = None) -> None:
    """Imports the loader of the artifact at `uri` now, before the caller imports anything else.

    skops.io, when imported, looks each scipy ufunc up in every module loaded so far: a cold start
    loads the model a few tenths of a second sooner when that happens before the web stack is
    imported (bench/bench_cold_start.py --ref). A bad URI or metadata is `load_artifact`'s to report."""
    try:
        fmt = model_format or read_metadata(uri_to_path(uri)).format
    except (ArtifactError, ValueError, TypeError, KeyError):
        return
    if fmt == "skops":
        import skops.io  # noqa: F401


def load_artifact(uri: str, *, model_format: str | None = None, trust_pickle: bool = False) -> LoadedArtifact:
    """Load a version directory and check the estimator against its metadata.

    Raises `ArtifactError` listing every problem (`check.estimator_problems`), one per line.
    """
    version_dir = uri_to_path(uri)
    if not version_dir.is_dir():
        raise ArtifactError(f"model URI {uri!r} is not a directory")
    metadata = read_metadata(version_dir)
    fmt = model_format or metadata.format
    model_path = version_dir / metadata.model_file
    if not model_path.is_file():
        raise ArtifactError(f"model file {model_path} does not exist")
    estimator = load_estimator(model_path, fmt, trust_pickle=trust_pickle, extra_trusted=metadata.trusted_types)
    problems = estimator_problems(estimator, metadata)
    if problems:
        raise ArtifactError("\n".join(problems))
    background, _ = read_feature_csv(version_dir / metadata.background, metadata.feature_names, metadata.categories)
    return LoadedArtifact(version_dir, metadata, estimator, background, schema_of(metadata, estimator))


def estimator_name(estimator: Any) -> str:
    """`sklearn.ensemble.RandomForestClassifier`: the public module path of the estimator's class."""
    return f"{type(estimator).__module__.split('._')[0]}.{type(estimator).__name__}"


def write_artifact(
    version_dir: Path,
    *,
    estimator: Any,
    name: str,
    version: str,
    feature_names: list[str],
    class_names: list[str],
    background: np.ndarray,
    params: dict[str, Any] | None = None,
    training_data: str | None = None,
    parent_version: str | None = None,
    holdout_data: str | None = None,
    task: str = "classification",
    categories: dict[str, list[str]] | None = None,
    target_name: str = "target",
    trusted_types: list[str] | None = None,
) -> ModelMetadata:
    """Write `<version_dir>/{model.skops, background.csv, metadata.json}` (skops only: safe to load).

    metadata.json is written last: a directory without it is not an artifact yet.
    """
    import skops.io

    version_dir.mkdir(parents=True, exist_ok=True)
    skops.io.dump(estimator, version_dir / "model.skops")
    write_feature_csv(version_dir / "background.csv", feature_names, background, categories=categories)
    metadata = ModelMetadata(
        name=name,
        version=version,
        format="skops",
        model_file="model.skops",
        estimator=estimator_name(estimator),
        params=params,
        feature_names=list(feature_names),
        class_names=list(class_names),
        task=task,
        categories={k: list(v) for k, v in (categories or {}).items()},
        target_name=target_name,
        trusted_types=sorted(trusted_types or []),
        background="background.csv",
        training_data=training_data,
        holdout_data=holdout_data,
        parent_version=parent_version,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    (version_dir / METADATA_FILE).write_text(json.dumps(metadata.to_dict(), indent=2) + "\n")
    return metadata
