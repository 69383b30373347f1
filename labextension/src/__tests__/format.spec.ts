import {
  MISSING,
  badgeModifier,
  formatEstimate,
  formatMetrics,
  formatMove,
  formatMs,
  formatRate,
  formatShare,
  formatVersion
} from '../format';

describe('figures', () => {
  it('show a dash for anything unknown', () => {
    for (const f of [formatRate, formatMs, formatShare, formatVersion]) {
      expect(f(null)).toBe(MISSING);
      expect(f(undefined)).toBe(MISSING);
      expect(f(NaN)).toBe(MISSING);
    }
    expect(formatMetrics({})).toBe(MISSING);
  });

  it('read naturally at every scale', () => {
    expect([0, 0.004, 0.5, 12.34, 250.6].map(formatRate)).toEqual([
      '0',
      '<0.01',
      '0.50',
      '12.3',
      '251'
    ]);
    expect([0.42, 37.4, 2500].map(formatMs)).toEqual(['0.4 ms', '37 ms', '2.50 s']);
    expect([0, 0.004, 0.25, 1].map(formatShare)).toEqual(['0%', '<1%', '25%', '100%']);
    expect(formatVersion(3)).toBe('v3');
  });

  it('list a few metrics by name', () => {
    expect(formatMetrics({ roc_auc: 0.98765, accuracy: 0.9, f1: 0.8 })).toBe(
      'accuracy 0.9, f1 0.8'
    );
  });

  it('describe an alias move', () => {
    const move = { action: 'rollback', actor: 'ana', from_version: 3, to_version: 2 };
    expect(formatMove({ ...move, reason: 'p95 doubled' })).toBe(
      'rollback 3 → 2 by ana: p95 doubled'
    );
    expect(formatMove({ ...move, action: 'push', from_version: null, reason: null })).toBe(
      'push 2 by ana'
    );
  });

  it('turn a status into a CSS modifier', () => {
    expect(badgeModifier('not deployed')).toBe('jp-mod-not-deployed');
  });
});

describe('estimated metric', () => {
  it('shows the value with half its band, and marks an untrusted one', () => {
    expect(formatEstimate({ value: 0.9123, lower: 0.9, upper: 0.92, trusted: true })).toBe(
      '0.912 ±0.010'
    );
    expect(formatEstimate({ value: 0.8, trusted: false })).toBe('~0.800');
    expect(formatEstimate(null)).toBe(MISSING);
  });
});
