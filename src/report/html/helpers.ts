/**
 * Every Handlebars helper of the report templates, registered in one place so that a user's
 * own templates (`--templates DIR`) can rely on exactly this list (docs/reports.md).
 */
import type { HelperDelegate } from 'handlebars';
import { fmtNumber } from '../model.js';

/** The subset of a Handlebars environment the helpers need. */
export interface HelperHost {
  registerHelper(name: string, fn: HelperDelegate): void;
  SafeString: new (s: string) => unknown;
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>` and `&` escaped as \u
 * sequences, so no value can close the element, and U+2028/2029 escaped for old parsers.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Helpers available to every template. The last argument Handlebars passes (its options) is dropped. */
export function registerHelpers(hb: HelperHost): void {
  const args = (a: unknown[]) => a.slice(0, -1);
  /** `{{eq a b}}`: strict equality. */
  hb.registerHelper('eq', (...a: unknown[]) => args(a)[0] === args(a)[1]);
  /** `{{gt a b}}`: a > b. */
  hb.registerHelper('gt', (...a: unknown[]) => Number(args(a)[0]) > Number(args(a)[1]));
  /** `{{or a b ...}}`: the first truthy argument. */
  hb.registerHelper('or', (...a: unknown[]) => args(a).find(Boolean) ?? false);
  /** `{{not a}}`. */
  hb.registerHelper('not', (...a: unknown[]) => !args(a)[0]);
  /** `{{inc i}}`: i + 1, for 1-based numbering. */
  hb.registerHelper('inc', (...a: unknown[]) => Number(args(a)[0]) + 1);
  /** `{{len list}}`: a list's length. */
  hb.registerHelper('len', (...a: unknown[]) =>
    Array.isArray(args(a)[0]) ? (args(a)[0] as unknown[]).length : 0,
  );
  /** `{{num v}}`: a number in 3–4 significant digits with k/M/G. */
  hb.registerHelper('num', (...a: unknown[]) => fmtNumber(args(a)[0] as number | undefined));
  /** `{{fixed v digits}}`: a number with fixed decimals, or – when absent. */
  hb.registerHelper('fixed', (...a: unknown[]) => {
    const [v, d] = args(a) as [number | undefined, number];
    return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d ?? 2) : '–';
  });
  /** `{{join list sep}}`. */
  hb.registerHelper('join', (...a: unknown[]) => {
    const [list, sep] = args(a) as [unknown[], string | undefined];
    return Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ', ') : '';
  });
  /** `{{short id}}`: the random suffix of a run id, for narrow columns. */
  hb.registerHelper('short', (...a: unknown[]) => String(args(a)[0] ?? '').slice(-4));
  /** `{{{jsonScript value}}}`: JSON safe inside a script element (triple braces: not HTML-escaped). */
  hb.registerHelper('jsonScript', (...a: unknown[]) => new hb.SafeString(jsonForScript(args(a)[0])));
  /** `{{{raw text}}}`: trusted text from the renderer (inlined CSS and scripts), unescaped. */
  hb.registerHelper('raw', (...a: unknown[]) => new hb.SafeString(String(args(a)[0] ?? '')));
  /** `{{pick list index}}`: list[index]. */
  hb.registerHelper('pick', (...a: unknown[]) => {
    const [list, i] = args(a) as [unknown[], number];
    return Array.isArray(list) ? list[i] : undefined;
  });
}
