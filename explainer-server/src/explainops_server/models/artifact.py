"""Model artifact: a version directory with the estimator, `metadata.json` and `background.csv`.

The layout is fixed in docs/architecture.md. skops is the safe default; joblib/pickle loads only
when the caller trusts it explicitly, because unpickling runs arbitrary code.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from explainops_server.errors import ArtifactError

# Types a skops artifact may instantiate. Everything else is refused at load time, before any object
# is built; skops already trusts builtins and numpy/scipy primitives it knows are safe.
TRUSTED_SKOPS_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.linear_model._logistic.LogisticRegression",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int64",
        "numpy.random.mtrand.RandomState",
        "builtins.int",
        "builtins.float",
    }
)

METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str
    format: str
    model_file: str
    feature_names: list[str]
    class_names: list[str]
    background: str
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
        required = ("name", "version", "format", "model_file", "feature_names", "class_names", "background")
        missing = [key for key in required if key not in raw]
        if missing:
            raise ArtifactError(f"{METADATA_FILE} lacks required field(s): {', '.join(missing)}")
        known = {f: raw[f] for f in cls.__dataclass_fields__ if f in raw}
        if not isinstance(known["feature_names"], list) or not known["feature_names"]:
            raise ArtifactError(f"{METADATA_FILE}: feature_names must be a non-empty list")
        if not isinstance(known["class_names"], list) or len(known["class_names"]) < 2:
            raise ArtifactError(f"{METADATA_FILE}: class_names must list at least two classes")
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True)
class LoadedArtifact:
    directory: Path
    metadata: ModelMetadata
    estimator: Any
    background: np.ndarray


def uri_to_path(uri: str) -> Path:
    """A plain path or a `file://` URI to a local path; other schemes are not fetched here."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
    raise ArtifactError(f"unsupported model URI scheme {parsed.scheme!r} in {uri!r} (use a path or file://)")


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


def read_feature_csv(path: Path, feature_names: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of a feature CSV (header = feature names, optional `target` column) as float arrays."""
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
    try:
        features = np.array([[float(row[i]) for i in columns] for row in rows], dtype=np.float64)
        target = (
            np.array([int(float(row[header.index("target")])) for row in rows], dtype=np.int64)
            if "target" in header
            else None
        )
    except (ValueError, IndexError) as exc:
        raise ArtifactError(f"{path} holds a non-numeric or short row: {exc}") from None
    if features.shape[0] == 0:
        raise ArtifactError(f"{path} holds no rows")
    return features.reshape(len(rows), len(feature_names)), target


def write_feature_csv(path: Path, feature_names: list[str], features: np.ndarray, target: Any = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*feature_names, *(["target"] if target is not None else [])])
        for i, row in enumerate(np.asarray(features, dtype=np.float64)):
            values = [repr(float(v)) for v in row]
            writer.writerow([*values, *([int(target[i])] if target is not None else [])])


def _load_skops(path: Path) -> Any:
    import skops.io

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises zipfile/json/key errors for damaged files
        raise ArtifactError(f"{path} is not a readable skops file: {exc}") from None
    refused = sorted(set(untrusted) - TRUSTED_SKOPS_TYPES)
    if refused:
        raise ArtifactError(f"{path} needs types outside the trusted set: {', '.join(refused)}")
    try:
        return skops.io.load(path, trusted=[t for t in untrusted if t in TRUSTED_SKOPS_TYPES])
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
    """Load and validate a version directory. Raises `ArtifactError` with a one-line reason."""
    version_dir = uri_to_path(uri)
    if not version_dir.is_dir():
        raise ArtifactError(f"model URI {uri!r} is not a directory")
    metadata = read_metadata(version_dir)
    fmt = model_format or metadata.format
    model_path = version_dir / metadata.model_file
    if not model_path.is_file():
        raise ArtifactError(f"model file {model_path} does not exist")
    if fmt == "skops":
        estimator = _load_skops(model_path)
    elif fmt == "joblib":
        estimator = _load_joblib(model_path, trust_pickle)
    else:
        raise ArtifactError(f"unknown model format {fmt!r} (skops | joblib)")
    if not hasattr(estimator, "predict_proba"):
        raise ArtifactError(f"{model_path} holds {type(estimator).__name__}, which has no predict_proba")
    n_features = getattr(estimator, "n_features_in_", len(metadata.feature_names))
    if n_features != len(metadata.feature_names):
        raise ArtifactError(
            f"estimator expects {n_features} features but metadata lists {len(metadata.feature_names)}"
        )
    background, _ = read_feature_csv(version_dir / metadata.background, metadata.feature_names)
    return LoadedArtifact(version_dir, metadata, estimator, background)


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
) -> ModelMetadata:
    """Write `<version_dir>/{model.skops, background.csv, metadata.json}` (skops only: safe to load)."""
    import skops.io

    version_dir.mkdir(parents=True, exist_ok=True)
    skops.io.dump(estimator, version_dir / "model.skops")
    write_feature_csv(version_dir / "background.csv", feature_names, background)
    metadata = ModelMetadata(
        name=name,
        version=version,
        format="skops",
        model_file="model.skops",
        estimator=f"{type(estimator).__module__.split('._')[0]}.{type(estimator).__name__}",
        params=params,
        feature_names=list(feature_names),
        class_names=list(class_names),
        background="background.csv",
        training_data=training_data,
        holdout_data=holdout_data,
        parent_version=parent_version,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    (version_dir / METADATA_FILE).write_text(json.dumps(metadata.to_dict(), indent=2) + "\n")
    return metadata
