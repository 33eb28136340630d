import type { Sample } from '../core/sample.js';
import type { SampleFilter } from './store.js';

/**
 * Turns a filter into a predicate, once per read rather than once per sample, so a read of a
 * large run does not walk the filter's tag object for every point. Every store that filters
 * in process uses this, so "matches" means the same thing in all of them.
 */
export function sampleMatcher(filter: SampleFilter = {}): (sample: Sample) => boolean {
  const { measurement, from, to } = filter;
  const tags = filter.tags ? Object.entries(filter.tags) : [];
  return (sample) => {
    if (measurement !== undefined && sample.measurement !== measurement) return false;
    if (from !== undefined && sample.time < from) return false;
    if (to !== undefined && sample.time > to) return false;
    for (const [key, value] of tags) {
      if (!Object.hasOwn(sample.tags, key) || sample.tags[key] !== value) return false;
    }
    return true;
  };
}
