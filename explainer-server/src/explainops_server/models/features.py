"""The model's input columns: numeric or categorical, and the one numeric form everything shares.

Inside the server a row is always a float vector with one entry per *original* column: a numeric
column holds its value, a categorical column holds the index of its category in the artifact's
sorted category list. Validation, the explanation cache, every explainer and the prediction record
work on that form, so an explanation names original columns ("colour = red", one SHAP value per
column) whatever encoding the estimator's own pipeline applies. `estimator_input` turns it back into
what the estimator was fitted on (a DataFrame with the original strings when it was fitted on one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explainops_server.errors import InvalidInput

NUMBER_TYPES = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class FeatureSchema:
    names: list[str]
    # categorical column -> its categories, in the order their codes follow
    categories: Mapping[str, list[str]] = field(default_factory=dict)
    # True when the estimator was fitted on a DataFrame (it then checks the column names)
    dataframe_input: bool = False

    def __post_init__(self) -> None:
        index = {name: i for i, name in enumerate(self.names)}
        object.__setattr__(self, "_index", index)
        object.__setattr__(
            self,
            "_codes",
            {name: {c: j for j, c in enumerate(cats)} for name, cats in self.categories.items()},
        )

    @property
    def categorical_indices(self) -> dict[int, list[str]]:
        """Column index -> categories (the form AnchorTabular-style explainers take)."""
        return {self._index[name]: list(cats) for name, cats in self.categories.items()}  # type: ignore[attr-defined]

    @property
    def numeric_indices(self) -> list[int]:
        return [i for i, name in enumerate(self.names) if name not in self.categories]

    def is_categorical(self, name: str) -> bool:
        return name in self.categories

    # ---- requests -> codes ------------------------------------------------------------------------
    def encode_value(self, name: str, value: Any, where: str) -> float:
        if name in self.categories:
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise InvalidInput(
                    f"{where}: column {name!r} is categorical; expected a string, got {value!r:.40}"
                )
            text = value if isinstance(value, str) else _number_text(value)
            code = self._codes[name].get(text)  # type: ignore[attr-defined]
            if code is None:
                known = self.categories[name]
                shown = ", ".join(repr(c) for c in known[:10]) + (", ..." if len(known) > 10 else "")
                raise InvalidInput(
                    f"{where}: unknown category {text!r:.40} for column {name!r}; known: {shown}"
                )
            return float(code)
        if isinstance(value, bytes | str):
            try:
                number = float(value)
            except ValueError:
                raise InvalidInput(
                    f"{where}: column {name!r} is numeric; expected a number, got {value!r:.40}"
                ) from None
        elif isinstance(value, bool) or not isinstance(value, NUMBER_TYPES):
            raise InvalidInput(f"{where}: expected a number, got {type(value).__name__} {value!r:.40}")
        else:
            number = float(value)
        if not math.isfinite(number):
            raise InvalidInput(f"{where}: NaN and infinity are not accepted")
        return number

    def encode_row(self, row: Any, where: str) -> list[float]:
        """A list in column order, or an object keyed by column name."""
        if isinstance(row, Mapping):
            unknown = sorted(set(row) - set(self.names))
            if unknown:
                raise InvalidInput(f"{where}: unknown column(s) {', '.join(map(repr, unknown[:5]))}")
            missing = [name for name in self.names if name not in row]
            if missing:
                raise InvalidInput(f"{where}: missing column(s) {', '.join(map(repr, missing[:5]))}")
            return [self.encode_value(name, row[name], f"{where}.{name}") for name in self.names]
        if not isinstance(row, Sequence) or isinstance(row, str | bytes):
            raise InvalidInput(
                f"{where}: expected a list of {len(self.names)} values or an object keyed by column name, "
                f"got {type(row).__name__}"
            )
        if len(row) != len(self.names):
            raise InvalidInput(f"{where}: expected {len(self.names)} features, got {len(row)}")
        return [
            self.encode_value(name, v, f"{where}[{j}]")
            for j, (name, v) in enumerate(zip(self.names, row, strict=True))
        ]

    def encode_rows(self, rows: Sequence[Any], field: str) -> np.ndarray:
        matrix = np.array(
            [self.encode_row(row, f"{field}[{i}]") for i, row in enumerate(rows)], dtype=np.float64
        )
        return matrix.reshape(len(rows), len(self.names))

    def encode_columns(self, columns: Mapping[str, Sequence[Any]], field: str) -> np.ndarray:
        """One sequence of values per column (V2: one tensor per column)."""
        lengths = {len(values) for values in columns.values()}
        if len(lengths) != 1:
            raise InvalidInput(f"{field}: every column tensor needs the same number of rows")
        (n_rows,) = lengths
        if n_rows == 0:
            raise InvalidInput(f"{field}: at least one instance is required")
        rows = [{name: columns[name][i] for name in columns} for i in range(n_rows)]
        return self.encode_rows(rows, field)

    # ---- codes -> estimator / records ------------------------------------------------------------
    def decode_value(self, name: str, code: float) -> Any:
        if name in self.categories:
            return self.categories[name][int(code)]
        return float(code)

    def decode_rows(self, codes: np.ndarray) -> list[list[Any]]:
        """Original values (strings for categorical columns), JSON-ready."""
        if not self.categories:
            return np.asarray(codes, dtype=np.float64).tolist()
        return [[self.decode_value(n, v) for n, v in zip(self.names, row, strict=True)] for row in codes]

    def estimator_input(self, codes: np.ndarray) -> Any:
        """What the estimator's predict takes: the float matrix, or a DataFrame of original values."""
        codes = np.asarray(codes, dtype=np.float64)
        if not self.dataframe_input and not self.categories:
            return codes
        import pandas as pd

        columns: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            if name in self.categories:
                lookup = np.asarray(self.categories[name], dtype=object)
                columns[name] = lookup[codes[:, j].astype(np.intp)]
            else:
                columns[name] = codes[:, j]
        return pd.DataFrame(columns, columns=self.names)


def _number_text(value: float | int) -> str:
    """A number sent for a categorical column, as its category text ("3" for 3 or 3.0)."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)
