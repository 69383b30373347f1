"""Read a data file named on the command line into a DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deploykit.errors import InvalidInputError

_READERS = {
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
    ".csv": pd.read_csv,
    ".feather": pd.read_feather,
    ".json": pd.read_json,
}


def read_table(path: str | Path) -> pd.DataFrame:
    """A DataFrame from a Parquet, CSV, Feather or JSON file, chosen by its suffix."""
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(_READERS))
        raise InvalidInputError(
            f"Cannot read data file '{path}': expected one of the suffixes {known}; "
            f"got '{path.suffix or '(none)'}'."
        )
    if not path.is_file():
        raise InvalidInputError(f"Data file '{path}' does not exist.")
    try:
        return reader(path)
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"Cannot read data file '{path}': {exc}") from None
