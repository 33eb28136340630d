/**
 * The one metric grammar shared by scenario thresholds, `--gate` and `compare.gates`
 * (DESIGN.md §9):
 *
 *   metric      := builtin | "action." name | measurement "." field, then an optional {k=v,...}
 *   builtin     := "duration" | "failure_rate" | "rate"
 *   aggregation := "avg" | "min" | "med" | "max" | "p(" N ")" | "count" | "rate"
 *   threshold   := aggregation op value[unit]          e.g. "p(95) < 2s", "avg < 80"
 *   gate        := metric ":" aggregation ":" ("+"|"-") n ["%"]   e.g. "duration:p(95):+10%"
 *
 * Pure parsing; every function throws MetricSyntaxError with a sentence saying what was expected.
 */

import { didYouMean } from './registry.js';

export class MetricSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricSyntaxError';
  }
}

export type MetricRef =
  | { kind: 'duration' | 'failure_rate' | 'rate'; tags: Record<string, string>; text: string }
  | { kind: 'action'; action: string; tags: Record<string, string>; text: string }
  | { kind: 'series'; measurement: string; field: string; tags: Record<string, string>; text: string };

export type Aggregation =
  | { kind: 'avg' | 'min' | 'med' | 'max' | 'count' | 'rate'; text: string }
  | { kind: 'percentile'; p: number; text: string };

const NAME = '[A-Za-z_][A-Za-z0-9_\\-]*';
const METRIC_RE = new RegExp(`^(${NAME}(?:\\.${NAME})*)(?:\\{([^}]*)\\})?$`);

export function parseMetric(text: string): MetricRef {
  const m = METRIC_RE.exec(text.trim());
  if (!m) {
    throw new MetricSyntaxError(
      `invalid metric "${text}": expected duration, failure_rate, rate, action.<name> or <measurement>.<field>, optionally with {tag=value,...}`,
    );
  }
  const tags = parseTags(m[2], text);
  const parts = m[1].split('.');
  if (parts.length === 1) {
    if (parts[0] === 'duration' || parts[0] === 'failure_rate' || parts[0] === 'rate')
      return { kind: parts[0], tags, text };
    throw new MetricSyntaxError(
      `unknown metric "${parts[0]}" in "${text}": expected duration, failure_rate, rate, action.<name> or <measurement>.<field>`,
    );
  }
  if (parts[0] === 'action') return { kind: 'action', action: parts.slice(1).join('.'), tags, text };
  // measurement.field: the measurement may itself contain dots only if the field is the last part.
  return {
    kind: 'series',
    measurement: parts.slice(0, -1).join('.'),
    field: parts[parts.length - 1],
    tags,
    text,
  };
}

function parseTags(body: string | undefined, text: string): Record<string, string> {
  const tags: Record<string, string> = {};
  if (body === undefined || body.trim() === '') return tags;
  for (const pair of body.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MetricSyntaxError(`invalid tag filter "${pair}" in "${text}": expected tag=value`);
    tags[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return tags;
}

export function parseAggregation(text: string): Aggregation {
  const t = text.trim();
  const p = /^p\(\s*(\d+(?:\.\d+)?)\s*\)$/.exec(t);
  if (p) {
    const n = Number(p[1]);
    if (n < 0 || n > 100)
      throw new MetricSyntaxError(`invalid percentile "${t}": expected p(N) with 0 <= N <= 100`);
    return { kind: 'percentile', p: n, text: t };
  }
  if (t === 'avg' || t === 'min' || t === 'med' || t === 'max' || t === 'count' || t === 'rate')
    return { kind: t, text: t };
  // k6 and Prometheus habits: p95, P99.9, percentile(95).
  const bare = /^(?:p|percentile)\s*\(?\s*(\d+(?:\.\d+)?)\s*\)?$/i.exec(t);
  const hint = bare ? `p(${bare[1]})` : (ALIASES[t.toLowerCase()] ?? didYouMean(t, SIMPLE_AGGREGATIONS));
  throw new MetricSyntaxError(
    `invalid aggregation "${t}"${hint ? ` (did you mean ${hint}?)` : ''}: expected avg, min, med, max, p(N), count or rate`,
  );
}

const SIMPLE_AGGREGATIONS = ['avg', 'min', 'med', 'max', 'count', 'rate'];
/** Names other tools use, too far from ours for didYouMean. */
const ALIASES: Record<string, string> = {
  mean: 'avg',
  average: 'avg',
  median: 'med',
  minimum: 'min',
  maximum: 'max',
};

export type Comparison = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  aggregation: Aggregation;
  op: Comparison;
  /** In the metric's base unit: milliseconds for durations, percent for rates. */
  value: number;
  text: string;
}

const OPERATORS: string[] = ['<', '<=', '>', '>=', '==', '!='];

const UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, '%': 1 };

/** Parses `p(95) < 2s` / `avg < 80` / `count >= 100`. Durations become milliseconds. */
export function parseThreshold(text: string): Threshold {
  // The first run of comparison characters is the operator: "avg << 3" is a bad operator, not a bad aggregation.
  const op = /[<>=!]+/.exec(text)?.[0];
  if (op !== undefined && !OPERATORS.includes(op)) {
    throw new MetricSyntaxError(
      `invalid operator "${op}" in threshold "${text.trim()}": expected ${OPERATORS.join(', ')}`,
    );
  }
  const m = /^\s*(.+?)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|%)?\s*$/.exec(text);
  if (!m)
    throw new MetricSyntaxError(
      `invalid threshold "${text}": expected <aggregation> <op> <value>, e.g. "p(95) < 2s"`,
    );
  return {
    aggregation: parseAggregation(m[1]),
    op: m[2] as Comparison,
    value: Number(m[3]) * UNITS[m[4] ?? ''],
    text: text.trim(),
  };
}

export function compare(actual: number, op: Comparison, expected: number): boolean {
  switch (op) {
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '==':
      return actual === expected;
    case '!=':
      return actual !== expected;
  }
}

export interface Gate {
  metric: MetricRef;
  aggregation: Aggregation;
  /** +: an increase beyond the tolerance fails (lower is better); −: a decrease fails. */
  direction: '+' | '-';
  tolerance: number;
  relative: boolean;
  text: string;
}

/** Parses `duration:p(95):+10%` or `procstat.cpu_usage{process=uwsgi}:avg:+5`. */
export function parseGate(text: string): Gate {
  // Split on the last two colons: a tag filter may not contain ':' but keep it robust.
  const last = text.lastIndexOf(':');
  const middle = text.lastIndexOf(':', last - 1);
  if (middle <= 0)
    throw new MetricSyntaxError(
      `invalid gate "${text}": expected <metric>:<aggregation>:<+|-><n>[%], e.g. "duration:p(95):+10%"`,
    );
  const tol = /^([+-])(\d+(?:\.\d+)?)(%)?$/.exec(text.slice(last + 1).trim());
  if (!tol)
    throw new MetricSyntaxError(
      `invalid gate tolerance "${text.slice(last + 1)}" in "${text}": expected +N, -N, +N% or -N%`,
    );
  return {
    metric: parseMetric(text.slice(0, middle)),
    aggregation: parseAggregation(text.slice(middle + 1, last)),
    direction: tol[1] as '+' | '-',
    tolerance: Number(tol[2]),
    relative: tol[3] === '%',
    text,
  };
}
