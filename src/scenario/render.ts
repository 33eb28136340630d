import Handlebars from 'handlebars';
import { isMap, isPair, isScalar, isSeq, type Node, parse } from 'yaml';
import { InputError } from '../core/errors.js';
import type { PathSegment, ScenarioIssue, ScenarioSource } from './source.js';

/** A string that is exactly one `{{arg}}` takes the arg's own type (number, boolean, list…). */
const WHOLE_ARG = /^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$/;

/**
 * Parses `--arg k=v` values as YAML scalars, so `--arg iterations=10` is the number 10, as it
 * would be if written in the scenario.
 */
export function parseArgFlag(flag: string): [string, unknown] {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw new InputError(`--arg "${flag}" is not of the form name=value`);
  const name = flag.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new InputError(`--arg "${flag}": "${name}" is not a valid arg name`);
  const raw = flag.slice(eq + 1);
  let value: unknown;
  try {
    value = parse(raw);
  } catch {
    value = raw;
  }
  return [name, value ?? raw];
}

/**
 * Renders every string scalar of the scenario (except the `args:` block) with Handlebars,
 * without HTML escaping, in place in the YAML document so positions stay valid.
 * Returns the issues found (unknown args, template syntax errors).
 */
export function renderArgs(source: ScenarioSource, args: Record<string, unknown>): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const visit = (node: unknown, path: PathSegment[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair) || !isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (path.length === 0 && key === 'args') continue;
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) visit(item, [...path, i]);
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('{{')) {
      try {
        node.value = renderScalar(node.value, args);
      } catch (err) {
        issues.push(source.issue(path, (err as Error).message));
      }
    }
  };
  visit(source.doc.contents as Node, []);
  return issues;
}

function renderScalar(template: string, args: Record<string, unknown>): unknown {
  const whole = WHOLE_ARG.exec(template);
  if (whole) {
    if (!(whole[1] in args)) throw new Error(missingArg(whole[1], args));
    return args[whole[1]];
  }
  try {
    return Handlebars.compile(template, { noEscape: true, strict: true })(args);
  } catch (err) {
    const message = (err as Error).message;
    const missing = /"([^"]+)" not defined/.exec(message);
    if (missing) throw new Error(missingArg(missing[1], args));
    throw new Error(`invalid template "${template}": ${message.split('\n')[0]}`);
  }
}

function missingArg(name: string, args: Record<string, unknown>): string {
  const known = Object.keys(args);
  return `arg "${name}" has no value: declare it under args: or pass --arg ${name}=…${known.length ? ` (known args: ${known.join(', ')})` : ''}`;
}
