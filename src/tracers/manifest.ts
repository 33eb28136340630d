import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
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
  return manifest;
}
