/**
 * The small JSONPath subset response checks need: `$`, `.key`, `['key']`, `["key"]` and
 * `[n]` (negative counts from the end). Wildcards and filters are left out on purpose: a
 * check names one value and compares it.
 */
export type PathStep = string | number;

/** Parses `$.items[0].id`; throws with a sentence naming the bad path. */
export function parseJsonPath(path: string): PathStep[] {
  if (!path.startsWith('$')) throw new Error(`invalid JSON path "${path}": expected it to start with $`);
  const steps: PathStep[] = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[\s*(-?\d+)\s*\]|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < path.length) {
    const at = re.lastIndex;
    const m = re.exec(path);
    if (!m)
      throw new Error(`invalid JSON path "${path}" at "${path.slice(at)}": expected .key, [n] or ['key']`);
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push(m[3] ?? m[4]);
  }
  return steps;
}

/** The value at `steps`, or undefined when the document has none there. */
export function selectJsonPath(doc: unknown, steps: readonly PathStep[]): unknown {
  let node = doc;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(node)) return undefined;
      node = node[step < 0 ? node.length + step : step];
    } else {
      if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
      node = (node as Record<string, unknown>)[step];
    }
  }
  return node;
}

/** Structural equality of JSON values (what YAML gives for the expected side). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
