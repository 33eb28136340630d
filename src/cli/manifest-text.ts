import { stringify } from 'yaml';
import type { TracerManifest } from '../tracers/manifest.js';
import { table } from './table.js';

interface PropertySchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  items?: { type?: string };
}

/** A tracer manifest as a page of docs for the terminal (`scalpels tracers show`). */
export function renderManifest(m: TracerManifest): string {
  const out: string[] = [`${m.name} — ${m.summary}`, '', m.description.trim(), ''];
  const props = (m.params.properties ?? {}) as Record<string, PropertySchema>;
  const required = new Set((m.params.required as string[] | undefined) ?? []);
  out.push('Parameters (with:)');
  if (Object.keys(props).length === 0) out.push('  none');
  else
    out.push(
      indent(
        table(
          ['Name', 'Type', 'Default', 'Description'],
          Object.entries(props).map(([name, p]) => [
            `${name}${required.has(name) ? ' *' : ''}`,
            Array.isArray(p.type)
              ? p.type.join('|')
              : p.type === 'array'
                ? `${p.items?.type ?? 'any'}[]`
                : (p.type ?? 'any'),
            p.default === undefined ? '' : JSON.stringify(p.default),
            p.description ?? '',
          ]),
        ),
      ),
    );
  out.push('', `Default interval: ${m.default_interval}`, '', 'Measurements');
  for (const ms of m.measurements) {
    out.push(`  ${ms.name} — ${ms.description}`);
    const tags = Object.entries(ms.tags);
    if (tags.length) out.push(`    tags: ${tags.map(([k]) => k).join(', ')}`);
    out.push(
      indent(
        table(
          // Counter: how count and rate read the field (docs/data-model.md, "Counters"); blank for a level.
          ['Field', 'Type', 'Unit', 'Counter', 'Description'],
          Object.entries(ms.fields).map(([k, f]) => [
            k,
            f.type,
            f.unit ?? '',
            f.counter ?? '',
            f.description,
          ]),
        ),
        4,
      ),
    );
  }
  const r = m.requires;
  out.push('', 'Requirements');
  if (r.binaries?.length) out.push(`  binaries: ${r.binaries.join(', ')}`);
  if (r.files?.length) out.push(`  files: ${r.files.join(', ')}`);
  if (r.privileges) out.push(`  privileges: ${r.privileges}`);
  if (r.services?.length) out.push(`  services: ${r.services.join(', ')}`);
  out.push(
    '',
    `Cost: ${m.cost.trim()}`,
    '',
    'Example',
    indent(stringify({ tracers: [m.example] }).trimEnd()),
  );
  return out.join('\n');
}

function indent(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}
