import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { commandTracer } from '../../../src/tracers/command/index.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import {
  commandEnv,
  DEFAULT_COMMANDS_DIR,
  loadOperatorCatalog,
  operatorCatalogOf,
  parseOperatorCatalogFile,
} from '../../../src/tracers/operator-catalog.js';

const fixtures = join(import.meta.dirname, '../../fixtures/command/catalog');
const tmp = mkdtempSync(join(tmpdir(), 'scalpels-catalog-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadOperatorCatalog', () => {
  it('reads every .yaml and .yml file of the directory into validated entries', async () => {
    const catalog = await loadOperatorCatalog(fixtures, { mustExist: true });
    expect(catalog.names()).toEqual(['api-latency', 'lp-emitter', 'vmstat-kv']);
    expect(catalog.dirs).toEqual([fixtures]);
    expect(catalog.get('api-latency')).toMatchObject({
      argv: ['/usr/local/bin/probe-api', '--every', '1'],
      format: 'regex',
      mode: 'stream',
      measurement: 'api_probe',
      tags: ['method', 'path', 'status'],
      source: join(fixtures, '10-probes.yaml'),
    });
    expect(catalog.get('vmstat-kv')).toMatchObject({
      mode: 'interval',
      env: { LANG: 'C', DEPTH: '2' },
      cwd: '/tmp',
    });
    expect(catalog.get('nope')).toBeUndefined();
  });

  it('yields an empty catalog for a missing default directory, and fails for a named one', async () => {
    const missing = join(tmp, 'absent');
    expect((await loadOperatorCatalog(missing)).names()).toEqual([]);
    await expect(loadOperatorCatalog(missing, { mustExist: true })).rejects.toThrow(
      /cannot read the commands directory .*absent/,
    );
    expect(DEFAULT_COMMANDS_DIR).toBe('/etc/scalpels/commands.d');
  });

  it('refuses a name defined twice, naming both files', async () => {
    const dir = mkdtempSync(join(tmp, 'dup-'));
    writeFileSync(join(dir, 'a.yaml'), 'commands:\n  x: { argv: [/bin/true], format: kv }\n');
    writeFileSync(join(dir, 'b.yaml'), 'commands:\n  x: { argv: [/bin/false], format: kv }\n');
    await expect(loadOperatorCatalog(dir)).rejects.toThrow(
      /command "x" is defined twice: in .*a\.yaml and in .*b\.yaml/,
    );
  });
});

describe('parseOperatorCatalogFile', () => {
  const bad = (yaml: string) => () => parseOperatorCatalogFile(yaml, '/etc/c.yaml');

  it('accepts an empty file', () => {
    expect(parseOperatorCatalogFile('', '/etc/c.yaml')).toEqual([]);
  });

  it('takes an entry without format: an action only, which the command tracer refuses', () => {
    const [entry] = parseOperatorCatalogFile(
      'commands:\n  restart-api: { argv: [systemctl, restart, api] }',
      '/etc/c.yaml',
    );
    expect(entry).toEqual({
      name: 'restart-api',
      argv: ['systemctl', 'restart', 'api'],
      mode: 'stream',
      source: '/etc/c.yaml',
    });
    expect(() =>
      commandTracer.create(
        { name: 'restart-api' },
        { intervalMs: 1000 },
        {
          ...realTracerContext(silentLogger),
          operatorCatalog: operatorCatalogOf([entry]),
        },
      ),
    ).toThrow('command "restart-api" (/etc/c.yaml) has no format, so it cannot be a tracer');
  });

  it('refuses broken entries with the file, the entry and the problem', () => {
    expect(bad('commands: [a]')).toThrow('/etc/c.yaml: expected a mapping with one key, "commands"');
    expect(bad('cmds: {}')).toThrow(InputError);
    expect(bad(': :')).toThrow(/not valid YAML/);
    expect(bad('commands:\n  x: { format: kv }')).toThrow(
      '/etc/c.yaml: command "x": argv must be a non-empty list',
    );
    expect(bad('commands:\n  x: { argv: "rm -rf /", format: kv }')).toThrow(/argv must be a non-empty list/);
    expect(bad('commands:\n  x: { argv: [a], format: csv }')).toThrow(
      /format must be one of line-protocol, json, regex, kv/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: kv, mode: cron }')).toThrow(
      /mode must be one of stream, interval/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: regex }')).toThrow(/format regex needs a regex/);
    expect(bad('commands:\n  x: { argv: [a], format: regex, regex: "(" }')).toThrow(/regex does not compile/);
    expect(bad('commands:\n  x: { argv: [a], format: regex, regex: "\\\\d+" }')).toThrow(
      /needs named groups/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: kv, regex: "(?<a>x)" }')).toThrow(
      /only used with format regex/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: line-protocol, measurement: m }')).toThrow(
      /names its own measurement/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: kv, shell: true }')).toThrow(/unknown key shell/);
    expect(bad('commands:\n  "bad name": { argv: [a], format: kv }')).toThrow(/the name must be/);
    expect(bad('commands:\n  x: { argv: [a], format: kv, cwd: tmp }')).toThrow(
      /cwd must be an absolute path/,
    );
    expect(bad('commands:\n  x: { argv: [a], format: kv, env: [A] }')).toThrow(/env must map/);
  });
});

describe('commandEnv', () => {
  it("keeps the agent's SCALPELS_* variables (its credentials) from catalog commands, unless an entry names one", () => {
    process.env.SCALPELS_BROKER_PASSWORD = 'hunter2';
    process.env.SCALPELS_TEST_KEEP = 'x';
    try {
      const env = commandEnv({ env: { SCALPELS_TEST_KEEP: 'given', MODE: 'fast' } });
      expect(env.SCALPELS_BROKER_PASSWORD).toBeUndefined();
      expect(env.SCALPELS_TEST_KEEP).toBe('given');
      expect(env.MODE).toBe('fast');
      expect(env.PATH).toBe(process.env.PATH);
      expect(Object.keys(commandEnv({})).filter((k) => k.startsWith('SCALPELS_'))).toEqual([]);
    } finally {
      delete process.env.SCALPELS_BROKER_PASSWORD;
      delete process.env.SCALPELS_TEST_KEEP;
    }
  });
});
