/**
 * docs/data-model.md is normative: every measurement, tag and field a tracer manifest declares,
 * and every measurement the runner writes, must be documented there, with the field's type.
 * A new tracer (or a new field) fails this test until the page says what it writes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = resolve(import.meta.dirname, '../../..');
const doc = readFileSync(join(root, 'docs/data-model.md'), 'utf8');

interface Manifest {
  name: string;
  measurements?: {
    name: string;
    tags?: Record<string, string>;
    fields?: Record<string, { type: string; counter?: string }>;
  }[];
}

const manifests: Manifest[] = readdirSync(join(root, 'tracers'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => parse(readFileSync(join(root, 'tracers', f), 'utf8')) as Manifest);

/** The text under the heading `### `name`` or `#### `name``, up to the next heading of that level or above. */
function section(name: string): string | undefined {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^#{3,4} \`${name}\`\\s*$`).test(l));
  if (start === -1) return undefined;
  const level = lines[start].indexOf(' ');
  let end = start + 1;
  while (end < lines.length && !(/^#+ /.test(lines[end]) && lines[end].indexOf(' ') <= level)) end++;
  return lines.slice(start + 1, end).join('\n');
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('docs/data-model.md', () => {
  it('has tracer manifests to check', () => {
    expect(manifests.map((m) => m.name)).toContain('proc');
  });

  for (const manifest of manifests) {
    describe(`tracer ${manifest.name}`, () => {
      it('has a section', () => {
        expect(doc, `a "### Tracer \`${manifest.name}\`" section`).toMatch(
          new RegExp(`^### Tracer \`${escapeRe(manifest.name)}\``, 'm'),
        );
      });
      for (const m of manifest.measurements ?? []) {
        it(`documents ${m.name}: its tags, and its fields with their types and counter kinds`, () => {
          const text = section(m.name);
          expect(text, `a "#### \`${m.name}\`" section`).toBeDefined();
          for (const tag of Object.keys(m.tags ?? {})) {
            expect(text, `tag ${tag} of ${m.name}`).toMatch(
              new RegExp(`^\\|\\s*\`${escapeRe(tag)}\`\\s*\\|`, 'm'),
            );
          }
          for (const [field, spec] of Object.entries(m.fields ?? {})) {
            expect(text, `field ${field} (${spec.type}) of ${m.name}`).toMatch(
              new RegExp(`^\\|\\s*\`${escapeRe(field)}\`\\s*\\|\\s*${escapeRe(spec.type)}\\s*\\|`, 'm'),
            );
            // | field | type | unit | counter | meaning |: the Counter column, blank for a level.
            const row = new RegExp(
              `^\\|\\s*\`${escapeRe(field)}\`\\s*\\|[^|\\n]*\\|[^|\\n]*\\|([^|\\n]*)\\|`,
              'm',
            ).exec(text!);
            expect(row?.[1].trim(), `counter kind of ${m.name}.${field}`).toBe(spec.counter ?? '');
          }
        });
      }
    });
  }

  it('documents every measurement the runner writes (src/orchestrator)', () => {
    const dir = join(root, 'src/orchestrator');
    const written = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/measurement: '([^']+)'/g))
        written.add(m[1]);
    }
    expect([...written]).toContain('iteration');
    for (const name of written) expect(section(name), `a "### \`${name}\`" section`).toBeDefined();
    // The run record, written by the InfluxDB store.
    expect(section('scalpels_run')).toMatch(/^\|\s*`record`\s*\|\s*string\s*\|/m);
  });

  it('covers every measurement the Grafana example dashboard queries', () => {
    const dashboard = readFileSync(join(root, 'examples/grafana/scalpels-dashboard.json'), 'utf8');
    JSON.parse(dashboard);
    const queried = new Set([...dashboard.matchAll(/FROM \\"([^\\]+)\\"/g)].map((m) => m[1]));
    expect(queried).toContain('iteration');
    for (const name of queried) expect(section(name), `a section for ${name}`).toBeDefined();
  });

  it('documents the iteration point as the runner writes it', () => {
    const text = section('iteration')!;
    for (const [field, type] of [
      ['duration', 'float'],
      ['ok', 'boolean'],
      ['iteration', 'integer'],
      ['error', 'string'],
    ]) {
      expect(text).toMatch(new RegExp(`^\\|\\s*\`${field}\`\\s*\\|\\s*${type}\\s*\\|`, 'm'));
    }
    expect(text).toMatch(/^\|\s*`worker`\s*\|/m);
  });
});
