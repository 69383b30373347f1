/** How figures read in the sidebar: pure functions, "–" for anything unknown. */

export const MISSING = '–';

function known(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Requests per second with two significant decimals below 10. */
export function formatRate(value: number | null | undefined): string {
  if (!known(value)) {
    return MISSING;
  }
  if (value === 0) {
    return '0';
  }
  if (value < 0.01) {
    return '<0.01';
  }
  return value < 10 ? value.toFixed(2) : value.toFixed(value < 100 ? 1 : 0);
}

/** A latency: milliseconds below a second, seconds above. */
export function formatMs(value: number | null | undefined): string {
  if (!known(value)) {
    return MISSING;
  }
  if (value >= 1000) {
    return `${(value / 1000).toFixed(2)} s`;
  }
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ms`;
}

/** A share in [0, 1] as a percentage. */
export function formatShare(value: number | null | undefined): string {
  if (!known(value)) {
    return MISSING;
  }
  const percent = value * 100;
  return `${percent > 0 && percent < 1 ? '<1' : percent.toFixed(0)}%`;
}

/** An estimated metric with its band: "0.912 ±0.008", "~" marking an untrusted one. */
export function formatEstimate(
  value:
    | {
        value: number;
        lower?: number | null;
        upper?: number | null;
        trusted: boolean;
      }
    | null
    | undefined
): string {
  if (!value || !known(value.value)) {
    return MISSING;
  }
  const mark = value.trusted ? '' : '~';
  if (known(value.lower) && known(value.upper)) {
    const half = (value.upper - value.lower) / 2;
    return `${mark}${value.value.toFixed(3)} ±${half.toFixed(3)}`;
  }
  return `${mark}${value.value.toFixed(3)}`;
}

export function formatVersion(value: number | null | undefined): string {
  return known(value) ? `v${value}` : MISSING;
}

/** An ISO time as "YYYY-MM-DD HH:MM" in the reader's time zone. */
export function formatWhen(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The CSS modifier of a status badge: "not deployed" -> "jp-mod-not-deployed". */
export function badgeModifier(status: string): string {
  return `jp-mod-${status.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
}

/** Up to `count` metrics of a version as "name 0.93", sorted by name. */
export function formatMetrics(
  metrics: { [name: string]: number } | undefined,
  count = 2
): string {
  const entries = Object.entries(metrics ?? {})
    .filter(([, v]) => known(v))
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, count);
  if (entries.length === 0) {
    return MISSING;
  }
  return entries.map(([k, v]) => `${k} ${Number(v.toPrecision(3))}`).join(', ');
}

/** One audit-log line: "rollback 3 → 2 by ana: latency doubled". */
export function formatMove(event: {
  action: string;
  actor: string;
  from_version: number | null;
  to_version: number | null;
  reason: string | null;
}): string {
  const moved =
    event.to_version === null
      ? ''
      : ` ${event.from_version === null ? '' : `${event.from_version} → `}${event.to_version}`;
  const why = event.reason ? `: ${event.reason}` : '';
  return `${event.action}${moved} by ${event.actor}${why}`;
}

/** Metrics that best tell versions apart, in order of preference. */
const HEADLINE_METRICS = [
  'roc_auc',
  'accuracy',
  'balanced_accuracy',
  'f1',
  'f1_macro',
  'r2',
  'rmse',
  'mae'
];

/** The one metric a version row shows: "roc_auc 0.953", or "–" when it has none. */
export function headlineMetric(metrics: { [name: string]: number } | undefined): string {
  const entries = Object.entries(metrics ?? {}).filter(([, v]) => known(v));
  if (entries.length === 0) {
    return MISSING;
  }
  const byName = new Map(entries);
  const name =
    HEADLINE_METRICS.find(m => byName.has(m)) ??
    entries.map(([k]) => k).sort((a, b) => a.localeCompare(b))[0];
  return `${name} ${Number((byName.get(name) as number).toPrecision(3))}`;
}

/** "sklearn.linear_model.LogisticRegression" -> "LogisticRegression". */
export function shortEstimator(estimator: string | undefined): string {
  if (!estimator) {
    return MISSING;
  }
  const parts = estimator.split('.');
  return parts[parts.length - 1] || estimator;
}
