import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { shippedScriptsDir } from '../../../src/tracers/bpftrace/index.js';
import {
  type SystemtapProbeDeps,
  systemtapTracer,
  systemtapUnavailableReason,
} from '../../../src/tracers/systemtap/index.js';
import { fixtureContext } from '../../fixtures/proc/fixture-context.js';

const deps = (over: Partial<SystemtapProbeDeps> = {}): SystemtapProbeDeps => ({
  findExecutable: async () => '/usr/bin/stap',
  exists: async () => true,
  release: () => '6.1.0-18-amd64',
  readFile: async () => 'CapEff:\t000001ffffffffff\n',
  ...over,
});

describe('systemtapUnavailableReason', () => {
  it('needs stap, the running kernel build tree and root', async () => {
    expect(await systemtapUnavailableReason(deps())).toBeUndefined();
    expect(await systemtapUnavailableReason(deps({ findExecutable: async () => undefined }))).toBe(
      'stap is not installed (Debian package systemtap)',
    );
    expect(await systemtapUnavailableReason(deps({ exists: async () => false }))).toBe(
      'stap compiles scripts into kernel modules and needs the build tree of the running kernel 6.1.0-18-amd64, which is missing (/lib/modules/6.1.0-18-amd64/build/.config): install linux-headers-6.1.0-18-amd64',
    );
    expect(await systemtapUnavailableReason(deps({ readFile: async () => 'CapEff:\t0\n' }))).toBe(
      'stap needs root to load its kernel module',
    );
  });

  it('gives this machine the reason it really has', async () => {
    // Checked for real: on a kernel without its build tree (a VM kernel no package matches)
    // the tracer must be unavailable, and say which of the two things is missing.
    const reason = await systemtapTracer.unavailableReason(fixtureContext('t0'));
    const buildTree = existsSync(`/lib/modules/${release()}/build/.config`);
    if (!buildTree) {
      expect(reason).toMatch(
        new RegExp(
          `^(stap is not installed \\(Debian package systemtap\\)|stap compiles scripts into kernel modules and needs the build tree of the running kernel ${release().replace(/[.]/g, '\\.')}, which is missing)`,
        ),
      );
    }
  });
});

describe('systemtapTracer', () => {
  it('runs shipped scripts or absolute paths only', () => {
    const ctx = fixtureContext('t0');
    expect(() => systemtapTracer.create({}, { intervalMs: 1000 }, ctx)).toThrow(/exactly one of script/);
    expect(() => systemtapTracer.create({ script: '../x' }, { intervalMs: 1000 }, ctx)).toThrow(
      /invalid script name/,
    );
    expect(() => systemtapTracer.create({ path: 'x.stp' }, { intervalMs: 1000 }, ctx)).toThrow(
      /must be absolute/,
    );
    expect(systemtapTracer.create({ script: 'syscalls' }, { intervalMs: 1000 }, ctx)).toBeDefined();
    expect(existsSync(join(shippedScriptsDir, 'syscalls.stp'))).toBe(true);
  });

  it('has a manifest whose schema compiles strictly and accepts its example', () => {
    const m = systemtapTracer.manifest;
    const validate = new Ajv({ strict: true, allErrors: true }).compile(m.params);
    expect(validate(m.example.with), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ path: '/opt/x.stp', format: 'json', tags: ['a'] })).toBe(true);
    expect(validate({ script: 'x', format: 'csv' })).toBe(false);
    expect(validate({ format: 'json' })).toBe(false);
  });
});
