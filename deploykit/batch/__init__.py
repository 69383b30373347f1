"""Batch scoring: a registry version over a Parquet file, in chunks, with bounded memory.

    from deploykit.batch import score
    result = score(Registry(), "churn", "customers.parquet", "scores.parquet", ref="production")

``deploykit score NAME INPUT OUTPUT`` is the same from a shell, with a progress bar.
Core module: no web or notebook imports.
"""

from deploykit.batch._score import DEFAULT_CHUNK_ROWS, Progress, ScoreResult, score, score_with

__all__ = ["DEFAULT_CHUNK_ROWS", "Progress", "ScoreResult", "score", "score_with"]
