import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { loadScenarioFile } from '../../../src/scenario/load.js';
import { workloadRegistry } from '../../../src/workloads/index.js';
import { runnerPolicies } from '../../../src/workloads/runners/index.js';

const root = resolve(import.meta.dirname, '../../..');
const scenarioDoc = readFileSync(join(root, 'docs/scenario.md'), 'utf8');
const schema = JSON.parse(readFileSync(join(root, 'schemas/scenario.schema.json'), 'utf8'));

describe('the workload registry', () => {
  for (const def of workloadRegistry.all()) {
    it(`${def.name}: has a params schema, a valid example and a section in docs/scenario.md`, () => {
      expect(def.summary.length).toBeGreaterThan(10);
      const validate = new Ajv({ strict: false }).compile(def.params);
      expect(def.example.use).toBe(def.name);
      expect(validate(def.example.with ?? {}), JSON.stringify(validate.errors)).toBe(true);
      expect(scenarioDoc).toContain(`### \`${def.name}\``);
    });
  }

  it('every runner type is in the schema and the docs', () => {
    const types = schema.definitions.runner.oneOf
      .map((o: { properties: { type: { const: string } } }) => o.properties.type.const)
      .sort();
    expect(types).toEqual(Object.keys(runnerPolicies).sort());
    for (const t of types) expect(scenarioDoc).toContain(`### \`${t}\``);
  });

  it('docs/scenario.md names every key of the scenario schema', () => {
    const keys = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) walk(item);
        return;
      }
      if (node && typeof node === 'object') {
        const props = (node as { properties?: Record<string, unknown> }).properties;
        if (props) for (const k of Object.keys(props)) keys.add(k);
        for (const v of Object.values(node)) walk(v);
      }
    };
    walk(schema);
    const missing = [...keys].filter((k) => !scenarioDoc.includes(`\`${k}\``));
    expect(missing).toEqual([]);
  });
});

describe('examples', () => {
  const dir = join(root, 'examples');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    it(`${file} validates`, () => {
      expect(() =>
        loadScenarioFile(join(dir, file), { tracers: tracerSchemas, workloads: workloadSchemas }),
      ).not.toThrow();
    });
  }
  it('there is an example per workload kind', () => {
    const used = readdirSync(dir)
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) => [...readFileSync(join(dir, f), 'utf8').matchAll(/use: (\w+)/g)].map((m) => m[1]));
    for (const def of workloadRegistry.all()) expect(used).toContain(def.name);
  });
});
