import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { InputError } from '../core/errors.js';

/** One problem in a scenario, placed in the user's file. */
export interface ScenarioIssue {
  line: number;
  col: number;
  /** Key path, e.g. `steps[1].runner.times`. */
  path: string;
  message: string;
}

/** A scenario error carries every issue found; its message has one line per issue. */
export class ScenarioError extends InputError {
  constructor(
    readonly file: string,
    readonly issues: ScenarioIssue[],
  ) {
    super(
      issues.map((i) => `${file}:${i.line}:${i.col}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'),
    );
  }
}

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg),
    '',
  );
}

/**
 * A parsed YAML file that can answer "where is this key path?", so that every later stage
 * (arg rendering, schema validation, plugin checks) points its errors at the user's file.
 */
export class ScenarioSource {
  readonly lineCounter = new LineCounter();
  readonly doc: Document.Parsed;

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lineCounter, prettyErrors: false, uniqueKeys: true });
    const problems = [...this.doc.errors];
    if (problems.length > 0) {
      throw new ScenarioError(
        file,
        problems.map((e) => {
          const pos = this.lineCounter.linePos(e.pos[0]);
          return { line: pos.line, col: pos.col, path: '', message: `invalid YAML: ${firstLine(e.message)}` };
        }),
      );
    }
    if (!isMap(this.doc.contents)) {
      throw new ScenarioError(file, [
        { line: 1, col: 1, path: '', message: 'expected a mapping with version, name and steps' },
      ]);
    }
  }

  /**
   * Position of the node at `path`; with `key: true`, of the key itself (for "unknown key").
   * Falls back to the deepest existing ancestor, so a missing key points at its parent.
   */
  locate(path: readonly PathSegment[], opts: { key?: boolean } = {}): { line: number; col: number } {
    let node: unknown = this.doc.contents;
    let best = this.position(node as Node) ?? { line: 1, col: 1 };
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (isMap(node)) {
        const pair = node.items.find(
          (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
        );
        if (!pair) break;
        if (opts.key && i === path.length - 1) return this.position(pair.key as Node) ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else break;
      best = this.position(node as Node) ?? best;
    }
    return best;
  }

  private position(node: Node | null | undefined): { line: number; col: number } | undefined {
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : this.lineCounter.linePos(offset);
  }

  issue(path: readonly PathSegment[], message: string, opts: { key?: boolean } = {}): ScenarioIssue {
    return { ...this.locate(path, opts), path: formatPath(path), message };
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}
