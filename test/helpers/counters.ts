import type { Sample } from '../../src/core/sample.js';
import { counterTotal } from '../../src/orchestrator/thresholds.js';

/**
 * What a running-total field of these samples counted, summed over their series (tag sets):
 * the same computation as a threshold's `count` on a cumulative counter.
 */
export function increase(samples: readonly Sample[], field: string): number {
  const points = samples.flatMap((s) => {
    const v = s.fields[field];
    return typeof v === 'bigint' || typeof v === 'number'
      ? [{ time: s.time, value: Number(v), tags: s.tags }]
      : [];
  });
  return counterTotal(points, 'cumulative');
}
