/** One event as osprofiler's Redis driver stores it (a JSON string in the list). */
export interface OsprofilerEvent {
  name: string;
  base_id: string;
  trace_id: string;
  parent_id: string;
  timestamp: string;
  project?: string;
  service?: string;
  info?: Record<string, unknown>;
}

/** The span kinds a breakdown reports; every other span name counts as `other`. */
export const SPAN_KINDS = ['wsgi', 'db', 'rpc', 'other'] as const;
export type SpanKind = (typeof SPAN_KINDS)[number];

/** A span: a start event and its stop, by trace_id. */
export interface Span {
  id: string;
  parentId: string;
  name: string;
  kind: SpanKind;
  startMs: number;
  /** undefined while the stop event has not arrived. */
  durationMs?: number;
  project?: string;
  service?: string;
  /** SQL statement (db), request method and path (wsgi), or the traced function (other). */
  detail?: string;
  children: Span[];
}

/** One request's trace, put together. */
export interface Trace {
  baseId: string;
  /** The spans whose parent is the base id (the service's wsgi span for an API request). */
  roots: Span[];
  spans: Span[];
  /** Every start has its stop. */
  complete: boolean;
  startMs: number;
  totalMs: number;
  project?: string;
  service?: string;
  method?: string;
  path?: string;
}

/** osprofiler timestamps are UTC ISO without a zone, to the microsecond. */
export function parseTimestamp(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?$/.exec(ts);
  if (!m) return Date.parse(ts);
  return Date.parse(`${m[1]}Z`) + (m[2] ? Number(m[2]) * 1000 : 0);
}

function kindOf(name: string): SpanKind {
  const k = name.split('-')[0];
  return k === 'wsgi' || k === 'db' || k === 'rpc' ? k : 'other';
}

function detailOf(e: OsprofilerEvent): string | undefined {
  const info = e.info ?? {};
  const db = info.db as { statement?: string } | undefined;
  if (db?.statement) return db.statement.replace(/\s+/g, ' ');
  const req = info.request as { method?: string; path?: string } | undefined;
  if (req?.path) return `${req.method ?? ''} ${req.path}`.trim();
  const fn = info.function as { name?: string } | undefined;
  if (fn?.name) return fn.name;
  // Never parameters: SQL params and RPC args can hold user data and secrets.
  return undefined;
}

/** Builds a trace from its events (any order, as Redis holds them newest first). */
export function buildTrace(baseId: string, events: OsprofilerEvent[]): Trace {
  const byId = new Map<string, Span>();
  let open = 0;
  const stops: OsprofilerEvent[] = [];
  for (const e of events) {
    if (e.name.endsWith('-start')) {
      const name = e.name.slice(0, -'-start'.length);
      byId.set(e.trace_id, {
        id: e.trace_id,
        parentId: e.parent_id,
        name,
        kind: kindOf(name),
        startMs: parseTimestamp(e.timestamp),
        project: e.project,
        service: e.service,
        detail: detailOf(e),
        children: [],
      });
      open++;
    } else if (e.name.endsWith('-stop')) stops.push(e);
  }
  for (const e of stops) {
    const s = byId.get(e.trace_id);
    if (s && s.durationMs === undefined) {
      s.durationMs = Math.max(0, parseTimestamp(e.timestamp) - s.startMs);
      open--;
    }
  }
  const spans = [...byId.values()].sort((a, b) => a.startMs - b.startMs);
  const roots: Span[] = [];
  for (const s of spans) {
    const parent = byId.get(s.parentId);
    if (parent) parent.children.push(s);
    else roots.push(s);
  }
  const startMs = spans.length ? spans[0].startMs : 0;
  const endMs = spans.reduce((m, s) => Math.max(m, s.startMs + (s.durationMs ?? 0)), startMs);
  const top = roots.find((r) => r.kind === 'wsgi') ?? roots[0];
  const [method, path] =
    top?.kind === 'wsgi' && top.detail ? splitRequest(top.detail) : [undefined, undefined];
  return {
    baseId,
    roots,
    spans,
    complete: open === 0 && spans.length > 0,
    startMs,
    totalMs: endMs - startMs,
    project: top?.project,
    service: top?.service,
    method,
    path,
  };
}

function splitRequest(detail: string): [string | undefined, string | undefined] {
  const i = detail.indexOf(' ');
  return i < 0 ? [undefined, detail] : [detail.slice(0, i), detail.slice(i + 1)];
}

/** Time (inclusive: a db span inside a wsgi span counts in both) and count per span kind. */
export function breakdown(trace: Trace): Record<SpanKind, { ms: number; count: number }> {
  const out = Object.fromEntries(SPAN_KINDS.map((k) => [k, { ms: 0, count: 0 }])) as Record<
    SpanKind,
    { ms: number; count: number }
  >;
  for (const s of trace.spans) {
    out[s.kind].count++;
    out[s.kind].ms += s.durationMs ?? 0;
  }
  return out;
}

interface TreeNode {
  name: string;
  ms: number | null;
  at: number;
  detail?: string;
  children?: TreeNode[];
  more?: number;
}

/**
 * The span tree as JSON of at most `maxChars` characters: each node its name, duration, start
 * offset from the trace's start (ms) and detail (SQL cut to `detailMax`); when too long, details
 * are shortened, then each node keeps fewer children (`more` says how many were left out).
 */
export function treeJson(trace: Trace, maxChars: number): string {
  const attempt = (detailMax: number, maxChildren: number): string => {
    const node = (s: Span): TreeNode => {
      const kids = s.children.slice(0, maxChildren).map(node);
      const n: TreeNode = {
        name: s.name,
        ms: s.durationMs === undefined ? null : round(s.durationMs),
        at: round(s.startMs - trace.startMs),
      };
      if (s.detail && detailMax > 0)
        n.detail = s.detail.length > detailMax ? `${s.detail.slice(0, detailMax)}…` : s.detail;
      if (kids.length) n.children = kids;
      if (s.children.length > maxChildren) n.more = s.children.length - maxChildren;
      return n;
    };
    const roots = trace.roots.slice(0, maxChildren).map(node);
    return JSON.stringify({ base_id: trace.baseId, total_ms: round(trace.totalMs), spans: roots });
  };
  for (const [d, c] of [
    [200, 1000],
    [80, 1000],
    [80, 100],
    [40, 40],
    [0, 20],
    [0, 5],
    [0, 1],
  ] as const) {
    const text = attempt(d, c);
    if (text.length <= maxChars) return text;
  }
  return JSON.stringify({ base_id: trace.baseId, total_ms: round(trace.totalMs), truncated: true }).slice(
    0,
    maxChars,
  );
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
