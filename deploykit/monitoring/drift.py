"""Judge drift: a reference profile against current data, feature by feature.

    report = check_drift(profile, frame)          # a DataFrame, pyarrow Table or dict
    report.drifted_features, report.drifted_share, report.feature("age").score

The default policy is ``auto`` (see :class:`~deploykit.monitoring.options.DriftOptions`):

- numeric: significant by a chi-squared test on the reference's quantile bins (which
  carry the whole training set) or by a KS test against the reference sample (which
  sees changes inside a bin), Bonferroni-corrected; and a Wasserstein distance of at
  least 0.1 reference standard deviation.
- categorical: significant by a chi-squared test on the categories (sparse ones
  pooled); and a Jensen–Shannon distance of at least 0.1.
- missing values: the same two conditions on the shares of missing values, so a
  column that starts arriving empty drifts even when its present values do not.

Measured (``bench/drift_quality``): no-drift windows flagged ≤ 1% at every size from
100 to 1,000,000 rows; a mean shift of 0.25 std caught in ≥ 95% of windows from 1,000 rows.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from deploykit.errors import InvalidInputError
from deploykit.monitoring import stats
from deploykit.monitoring.columns import Current, RawColumn, raw_column
from deploykit.monitoring.methods import DriftMethod, Pair
from deploykit.monitoring.options import DriftOptions, Setting
from deploykit.monitoring.profile import OTHER, FeatureProfile, ReferenceProfile, is_point_bin
from deploykit.monitoring.results import DriftReport, FeatureDrift

if TYPE_CHECKING:
    from deploykit.monitoring.multivariate import MultivariateDrift, PCAReference

__all__ = ["Prepared", "check_drift", "judge", "multivariate", "pca_reference", "prepare"]

PREDICTION = "prediction"


class Prepared:
    """The current data's columns, converted to the profile's kinds when first needed.

    A single report converts, reduces and judges one column at a time, so memory
    holds one sorted copy of one column, not of all of them. For time windows,
    :meth:`reorder` converts every column once and keeps it.
    """

    def __init__(
        self,
        profile: ReferenceProfile,
        rows: int,
        sources: Mapping[str, Any],
        prediction: Any = None,
    ) -> None:
        self.profile = profile
        self.rows = rows
        self._sources = dict(sources)  # feature name -> Series / Arrow array / RawColumn / None
        self._prediction = prediction
        self._kinds = {fp.name: fp.kind for fp in profile.features}

    def raw(self, name: str) -> RawColumn | None:
        source = self._sources.get(name)
        if source is None or isinstance(source, RawColumn):
            return source
        return raw_column(source, self._kinds[name])

    def raw_prediction(self) -> RawColumn | None:
        source = self._prediction
        if source is None or self.profile.prediction is None or isinstance(source, RawColumn):
            return source
        return raw_column(source, self.profile.prediction.kind)

    def reorder(self, order: Any) -> Prepared:
        """Every column converted, with rows in ``order`` (so time windows become slices)."""
        converted = {}
        for name in self._sources:
            column = self.raw(name)
            converted[name] = None if column is None else column.reorder(order)
        prediction = self.raw_prediction()
        return Prepared(
            self.profile,
            self.rows,
            converted,
            None if prediction is None else prediction.reorder(order),
        )

    def view(
        self, rows: slice | None = None
    ) -> tuple[int, Callable[[str], Current | None], Current | None]:
        """(row count, feature name -> reduced column, reduced predictions) of ``rows``."""
        count = self.rows if rows is None else len(range(*rows.indices(self.rows)))

        def current(name: str) -> Current | None:
            column = self.raw(name)
            return None if column is None else column.take(rows)

        prediction = self.raw_prediction()
        return count, current, None if prediction is None else prediction.take(rows)


def _columns_of(data: Any) -> tuple[int, Mapping[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return len(data), {str(c): data[c] for c in data.columns}
    if isinstance(data, pa.Table):
        return data.num_rows, {name: data.column(name) for name in data.column_names}
    if isinstance(data, Mapping):
        lengths = {len(v) for v in data.values()}
        if len(lengths) > 1:
            raise InvalidInputError(
                "The columns of the current data must have one length. "
                f"Got lengths {sorted(lengths)}."
            )
        return (lengths.pop() if lengths else 0), {str(k): v for k, v in data.items()}
    raise InvalidInputError(
        "The current data must be a pandas DataFrame, a pyarrow Table or a dict of columns. "
        f"Got {type(data).__name__} instead."
    )


def _find(columns: Mapping[str, Any], name: str) -> Any:
    """A feature's column: by name, or as the prediction log names it (``input.<name>``)."""
    for key in (name, f"input.{name}"):
        if key in columns:
            return columns[key]
    positional = re.fullmatch(r"f(\d+)", name)  # array models: profile f3, log input.3
    if positional:
        return columns.get(f"input.{positional.group(1)}")
    return None


def prepare(profile: ReferenceProfile, data: Any) -> Prepared:
    """The columns of ``data`` the profile knows (and ``prediction``), to convert on use."""
    rows, columns = _columns_of(data)
    sources = {fp.name: _find(columns, fp.name) for fp in profile.features}
    prediction = columns.get(PREDICTION) if profile.prediction is not None else None
    return Prepared(profile, rows, sources, prediction)


def pca_reference(profile: ReferenceProfile) -> PCAReference | None:
    """The multivariate reference recorded at push, if the profile has one."""
    from deploykit.monitoring.multivariate import PCAReference

    data = profile.multivariate
    return None if not data else PCAReference.from_dict(data)


def multivariate(
    reference: PCAReference | None, prepared: Prepared, rows: slice | None = None
) -> MultivariateDrift | None:
    """The PCA reconstruction-error verdict on ``rows`` of ``prepared`` (None when the
    profile has no multivariate reference, a column is missing, or there are no rows)."""
    from deploykit.monitoring.multivariate import reconstruction_drift

    if reference is None:
        return None
    parts = []
    for name in reference.columns:
        column = prepared.raw(name)
        if column is None or column.kind != "numeric" or column.numbers is None:
            return None
        parts.append(column.numbers if rows is None else column.numbers[rows])
    if not len(parts[0]):
        return None
    return reconstruction_drift(reference, np.column_stack(parts))


def check_drift(
    profile: ReferenceProfile,
    data: Any,
    *,
    options: DriftOptions | None = None,
    model: str | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DriftReport:
    """Drift of ``data`` (DataFrame, pyarrow Table or dict of columns) against ``profile``.

    Columns are matched by name, or as ``input.<name>`` (prediction logs); a
    ``prediction`` column is compared with the profile of the model's predictions.
    """
    if not isinstance(profile, ReferenceProfile):
        raise InvalidInputError(
            f"check_drift needs a ReferenceProfile. Got {type(profile).__name__} instead; "
            "read a version's with registry.profile(name, version)."
        )
    prepared = prepare(profile, data)
    rows, current, prediction = prepared.view()
    return judge(
        profile,
        current,
        prediction,
        rows=rows,
        options=options,
        model=model,
        version=version,
        since=since,
        until=until,
        multivariate=multivariate(pca_reference(profile), prepared),
    )


def judge(
    profile: ReferenceProfile,
    current: Callable[[str], Current | None] | Mapping[str, Current | None],
    prediction: Current | None = None,
    *,
    rows: int,
    options: DriftOptions | None = None,
    **meta: Any,
) -> DriftReport:
    """The report for reduced columns: ``current(name)`` gives each (None if absent).

    Features are measured one at a time (only numbers are kept), then judged
    together: the level of each test depends on how many tests there were.
    """
    get = current.get if isinstance(current, Mapping) else current
    opts = options or DriftOptions()
    measured: list[_Measured | FeatureProfile] = []
    for fp in profile.features:
        cur = get(fp.name)
        measured.append(
            fp if cur is None else _measure(Pair(fp, cur), opts.setting(fp.name, fp.kind), opts)
        )
    tests = sum(m.tests for m in measured if isinstance(m, _Measured))
    level = opts.alpha / max(tests, 1)
    features = []
    notes = []
    for m in measured:
        if isinstance(m, _Measured):
            features.append(m.verdict(level))
        else:
            features.append(_absent(m))
            notes.append(f"Column {m.name!r} of the reference is not in the data.")
    prediction_drift = None
    if profile.prediction is not None and prediction is not None:
        pair = Pair(profile.prediction, prediction)
        setting = opts.features.get(profile.prediction.name, opts.setting("", pair.kind))
        m = _measure(pair, setting, opts)
        prediction_drift = m.verdict(opts.alpha / max(m.tests, 1))
    return DriftReport(
        rows=rows,
        features=tuple(features),
        prediction=prediction_drift,
        alpha=opts.alpha,
        notes=tuple(notes),
        **meta,
    )


def _needs_missing_test(pair: Pair) -> bool:
    ref, cur = pair.reference, pair.current
    return ref.count > 0 and cur.rows > 0 and (ref.missing > 0 or cur.missing > 0)


def _absent(fp: FeatureProfile) -> FeatureDrift:
    return FeatureDrift(
        fp.name,
        fp.kind,
        method="auto",
        score=None,
        threshold=math.nan,
        drifted=None,
        n_reference=fp.count - fp.missing,
        n_current=0,
        reference_missing_share=fp.missing / fp.count if fp.count else 0.0,
        note="not in the data",
    )


@dataclasses.dataclass(frozen=True)
class _Measured:
    """One feature's figures before the verdict (which needs the report's test count)."""

    fields: dict[str, Any]  # FeatureDrift fields known already
    auto: bool  # the auto policy: p-value and effect must both pass
    value_drift: bool | None  # a single method's own verdict (None: no score)
    missing: tuple[float, float] | None  # missing-share test: (p-value, distance)
    missing_threshold: float

    @property
    def tests(self) -> int:
        auto_test = self.auto and self.fields["score"] is not None
        return int(auto_test) + int(self.missing is not None)

    def verdict(self, level: float) -> FeatureDrift:
        f = self.fields
        missing_drifted = self.missing is not None and bool(
            self.missing[0] < level and self.missing[1] >= self.missing_threshold
        )
        drifted: bool | None
        if f["score"] is None:  # nothing to compare: drift only if the column went missing
            drifted = True if missing_drifted else None
        elif self.auto:
            drifted = bool(f["p_value"] < level and f["score"] >= f["threshold"]) or missing_drifted
        else:
            drifted = bool(self.value_drift) or missing_drifted
        return FeatureDrift(
            **f,
            drifted=drifted,
            missing_drifted=missing_drifted,
            alpha=level if self.auto and f["score"] is not None else None,
        )


def _measure(pair: Pair, setting: Setting, opts: DriftOptions) -> _Measured:
    ref, cur = pair.reference, pair.current
    missing = None
    if _needs_missing_test(pair):
        ref_counts = [ref.count - ref.missing, ref.missing]
        cur_counts = [cur.present, cur.missing]
        p = stats.chi2_homogeneity(ref_counts, cur_counts)[1]
        missing = (p, stats.jensenshannon(ref_counts, cur_counts))
    unseen, examples = pair.unseen
    fields: dict[str, Any] = {
        "feature": ref.name,
        "kind": pair.kind,
        "n_reference": ref.count - ref.missing,
        "n_current": cur.present,
        "missing": cur.missing,
        "missing_share": cur.missing / cur.rows if cur.rows else None,
        "reference_missing_share": ref.missing / ref.count if ref.count else 0.0,
        "unseen": unseen,
        "unseen_values": examples,
    }
    common: dict[str, Any] = {"missing": missing, "missing_threshold": opts.missing_threshold}
    if pair.comparable:
        fields.update(_histogram(pair))
    if isinstance(setting, DriftMethod):
        spec = setting.spec
        if pair.kind not in spec.kinds:
            raise InvalidInputError(
                f"Drift method {spec.name!r} works on {' and '.join(spec.kinds)} features; "
                f"feature {ref.name!r} is {pair.kind}. Pick one of the methods for {pair.kind} "
                "features, or 'auto'."
            )
        fields.update(method=spec.name, threshold=setting.cutoff, score=None, p_value=None)
        if not pair.comparable:
            fields["note"] = _why_not(pair)
            return _Measured(fields, False, None, **common)
        score = spec.compute(pair)
        fields.update(score=score, p_value=score if spec.score == "p_value" else None)
        drift = bool(math.isfinite(score) and spec.is_drift(score, setting.cutoff))
        return _Measured(fields, False, drift, **common)
    fields.update(threshold=opts.effect_threshold(pair.kind, setting))
    if not pair.comparable:
        fields.update(method="auto", score=None, p_value=None, note=_why_not(pair))
        return _Measured(fields, True, None, **common)
    method, effect, p_value, test = _auto(pair)
    fields.update(method=method, score=effect, p_value=p_value, test=test)
    return _Measured(fields, True, None, **common)


def _histogram(pair: Pair) -> dict[str, Any]:
    """Bin labels and counts on both sides: what a chart of the two distributions needs."""
    reference, current = pair.counts
    if pair.kind == "numeric":
        labels = _bin_labels(pair.reference.bin_edges)
    else:
        labels = ["other" if k == OTHER else k for k in pair.categories]
    return {
        "bins": tuple(labels),
        "reference_counts": tuple(int(n) for n in reference),
        "current_counts": tuple(int(n) for n in current),
    }


def _bin_labels(edges: Sequence[float]) -> list[str]:
    """``< a``, ``a – b``, ``≥ z`` per bin; ``= v`` for a point mass (see FeatureProfile)."""
    if len(edges) <= 2:
        return ["all"]
    last = len(edges) - 2
    labels = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        if is_point_bin(low, high):
            labels.append(f"= {low:.4g}")
        elif i and is_point_bin(edges[i - 1], low):  # just above a point: exclude it
            labels.append(
                f"> {edges[i - 1]:.4g}" if i == last else f"({edges[i - 1]:.4g}, {high:.4g})"
            )
        elif i == 0:
            labels.append(f"< {high:.4g}")
        elif i == last:
            labels.append(f"≥ {low:.4g}")
        else:
            labels.append(f"{low:.4g} – {high:.4g}")
    return labels


def _why_not(pair: Pair) -> str:
    return "no values in this window" if pair.current.present == 0 else "no values in the reference"


def _auto(pair: Pair) -> tuple[str, float, float, str]:
    """(effect method, effect size, p-value, test) of the auto policy."""
    p_bins = pair.chi2()
    if pair.kind == "categorical":
        return "jensenshannon", pair.jensenshannon(), p_bins, "chi2"
    sample, _ = pair.sample
    if not len(sample):
        return "psi", pair.psi(), p_bins, "chi2"
    # Two tests looking for the same thing: each at half the level (Bonferroni again).
    p_value = min(1.0, 2 * min(p_bins, pair.ks()))
    return "wasserstein", pair.wasserstein(), p_value, "chi2+ks"
