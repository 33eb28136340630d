/**
 * Every scenario the project ships (scenarios/ and examples/) validates against the real
 * catalogs, as `scalpels validate` would: a workload or tracer change that breaks one fails here.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tracerSchemas, workloadSchemas } from '../../src/cli/catalog.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const root = resolve(import.meta.dirname, '../..');

/** Scenario files under a directory, recursively; YAML files that are not scenarios are skipped by name. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      // examples/grafana holds provisioning files, examples/modules code: not scenarios.
      if (name !== 'grafana' && name !== 'modules') out.push(...yamlFiles(path));
    } else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out.sort();
}

const files = [...yamlFiles(join(root, 'scenarios')), ...yamlFiles(join(root, 'examples'))];

describe('shipped scenarios', () => {
  it('include the OpenStack library', () => {
    const names = files.map((f) => f.slice(root.length + 1));
    for (const n of [
      'keystone-token-issue',
      'keystone-token-validate',
      'keystone-user-project-create-delete',
      'glance-image-list',
      'nova-boot-delete',
      'neutron-network-create-delete',
    ])
      expect(names).toContain(`scenarios/openstack/${n}.yaml`);
  });

  for (const file of files) {
    it(`${file.slice(root.length + 1)} validates`, () => {
      const loaded = loadScenarioFile(file, { tracers: tracerSchemas, workloads: workloadSchemas });
      expect(loaded).toBeDefined();
    });
  }
});
