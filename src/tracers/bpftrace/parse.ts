import type { FieldValue, Sample } from '../../core/sample.js';
import { type BpftraceMap, splitMapKey } from '../bpftrace-runner.js';

/** How printed maps become samples. */
export interface MapShape {
  measurement: string;
  /** Tag names for the parts of map keys, by position (see {@link keyTags}). */
  keys?: readonly string[];
}

/** The field a map's values are written to: its name without `@`, or `value` for the map `@`. */
export function fieldName(mapName: string): string {
  const bare = mapName.replace(/^@/, '');
  return bare === '' ? 'value' : bare;
}

/**
 * Tags of one printed key. bpftrace joins key parts with commas without escaping them, so with
 * tag names the key is cut into at most that many parts and any extra commas stay in the last
 * part: scripts put free text (a process name) last. Without names: `key`, or `key1`, `key2`...
 */
export function keyTags(key: string | undefined, names: readonly string[] = []): Record<string, string> {
  if (key === undefined) return {};
  const parts = names.length > 0 ? splitMapKey(key, names.length) : key.split(',');
  const tags: Record<string, string> = {};
  parts.forEach((p, i) => {
    tags[names[i] ?? (parts.length === 1 ? 'key' : `key${i + 1}`)] = p;
  });
  return tags;
}

/** Fields of one map entry; undefined for values that are not turned into fields (histograms). */
export function entryFields(map: BpftraceMap, value: unknown): Record<string, FieldValue> | undefined {
  const field = fieldName(map.name);
  if (map.kind === 'hist' || Array.isArray(value)) return undefined;
  if (typeof value === 'string') return { [field]: value };
  if (typeof value === 'number') {
    // avg() prints as `stats` with a plain number: a mean, so a float; counts and sums are integers.
    return { [field]: map.kind === 'stats' ? value : BigInt(Math.round(value)) };
  }
  if (typeof value === 'object' && value !== null && 'count' in value) {
    const s = value as { count: number; average: number; total: number };
    return {
      [`${field}_count`]: BigInt(Math.round(s.count)),
      [`${field}_avg`]: Number(s.average),
      [`${field}_total`]: BigInt(Math.round(s.total)),
    };
  }
  return undefined;
}

/**
 * Collects the maps of one print round into samples: one sample per distinct key, with one
 * field per map (so `@calls[comm]` and `@errors[comm]` printed together make one sample with
 * two fields). Pure: the caller decides when a round ends and which timestamp it gets.
 */
export class MapRound {
  private readonly samples = new Map<string, Sample>();
  private readonly seen = new Set<string>();
  /** Maps whose values were not turned into fields (histograms), to warn about once. */
  readonly skipped = new Set<string>();

  constructor(
    private readonly shape: MapShape,
    readonly time: bigint,
  ) {}

  /** True when `map` was already added: a second print of it starts a new round. */
  has(map: BpftraceMap): boolean {
    return this.seen.has(map.name);
  }

  add(map: BpftraceMap): void {
    this.seen.add(map.name);
    for (const e of map.entries) {
      const fields = entryFields(map, e.value);
      if (!fields) {
        this.skipped.add(map.name);
        continue;
      }
      const tags = keyTags(e.key, this.shape.keys);
      const id = JSON.stringify(Object.entries(tags).sort());
      let s = this.samples.get(id);
      if (!s) {
        s = { measurement: this.shape.measurement, tags, fields: {}, time: this.time };
        this.samples.set(id, s);
      }
      Object.assign(s.fields, fields);
    }
  }

  /** The samples of the round. */
  take(): Sample[] {
    return [...this.samples.values()];
  }
}
