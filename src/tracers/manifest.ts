import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { COUNTER_KINDS, type CounterKind } from '../core/counters.js';
import { tracerManifestDir } from '../core/paths.js';

/**
 * The tracer manifest (tracers/<name>.yaml) is the catalog entry users read: what the tracer
 * observes, its parameters as JSON Schema, what it writes, what it needs and what it costs.
 * The same file drives validation (params), `scalpels tracers show`, and the data-model checks.
 */
export interface FieldSpec {
  type: 'float' | 'integer' | 'string' | 'boolean';
  unit?: string;
  description: string;
  /**
   * What kind of counter the field is (src/core/counters.ts): `cumulative` (a running total),
   * `interval` (what happened during the sample's interval). Absent: a level (a gauge).
   * Thresholds and gates read `count` and `rate` by it.
   */
  counter?: CounterKind;
}

export interface MeasurementSpec {
  name: string;
  description: string;
  /** Tag name → what it holds. */
  tags: Record<string, string>;
  fields: Record<string, FieldSpec>;
}

export interface Requirements {
  /** Executables that must be on PATH. */
  binaries?: string[];
  /** Files or directories that must exist. */
  files?: string[];
  /** Privileges needed, in words (e.g. "root or CAP_BPF"). */
  privileges?: string;
  /** Services the tracer talks to, in words. */
  services?: string[];
}

export interface TracerManifest {
  name: string;
  summary: string;
  description: string;
  /** JSON Schema of the `with:` block. */
  params: Record<string, unknown>;
  /** Default sampling interval, as a duration string. */
  default_interval: string;
  measurements: MeasurementSpec[];
  requires: Requirements;
  /** What it costs the observed node, in words, ideally measured (see docs/performance.md). */
  cost: string;
  /** A runnable `tracers:` entry, shown in docs and validated by tests. */
  example: Record<string, unknown>;
}

export function loadTracerManifest(name: string, dir = tracerManifestDir): TracerManifest {
  const file = join(dir, `${name}.yaml`);
  const manifest = parse(readFileSync(file, 'utf8')) as TracerManifest;
  if (manifest.name !== name)
    throw new Error(`${file}: manifest name "${manifest.name}" does not match "${name}"`);
  const problem = fieldProblems(manifest)[0];
  if (problem) throw new Error(`${file}: ${problem}`);
  return manifest;
}

/** What is wrong with the fields a manifest declares: a counter kind that does not exist or does not fit. */
export function fieldProblems(manifest: TracerManifest): string[] {
  const problems: string[] = [];
  for (const m of manifest.measurements ?? []) {
    for (const [name, f] of Object.entries(m.fields ?? {})) {
      if (f.counter === undefined) continue;
      if (!COUNTER_KINDS.includes(f.counter))
        problems.push(
          `field ${m.name}.${name}: counter "${f.counter}" is not one of ${COUNTER_KINDS.join(', ')} (leave it out for a level)`,
        );
      else if (f.type !== 'integer' && f.type !== 'float')
        problems.push(`field ${m.name}.${name}: a ${f.type} field cannot be a counter`);
    }
  }
  return problems;
}
