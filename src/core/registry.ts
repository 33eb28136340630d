/**
 * A named catalog of plugins (tracers, workloads, runners, renderers). Lookups by name give
 * a "did you mean" for misspelt names, so every registry reports unknown names the same way.
 */
export class Registry<T extends { name: string }> {
  private readonly entries = new Map<string, T>();

  constructor(
    readonly kind: string,
    items: readonly T[] = [],
  ) {
    for (const item of items) this.add(item);
  }

  add(item: T): void {
    if (this.entries.has(item.name)) throw new Error(`${this.kind} "${item.name}" is registered twice`);
    this.entries.set(item.name, item);
  }

  get(name: string): T | undefined {
    return this.entries.get(name);
  }

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  all(): T[] {
    return this.names().map((n) => this.entries.get(n)!);
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The closest candidate within a small edit distance, or undefined. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
