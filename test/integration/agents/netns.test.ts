import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLines } from '../../../src/store/line-protocol.js';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';
import { createTestHost, netnsUnavailableReason, type TestHost } from '../helpers/netns.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

const reason = netnsUnavailableReason();
if (reason) console.warn(`netns test skipped: ${reason}`);

// Where the kernel refuses namespaces the test cannot mean anything; it says why above.
describe.skipIf(reason !== undefined)('agents on separate hosts (network namespaces)', () => {
  const hosts: TestHost[] = [];
  const brokers: PrivateMosquitto[] = [];
  const agents: AgentProcess[] = [];
  const prefix = `ns${randomBytes(2).toString('hex')}`;

  beforeAll(async () => {
    hosts.push(createTestHost(1), createTestHost(2));
    // One private Mosquitto with a listener on each pair's root-side address: every host
    // reaches the broker over its own link, without routing between namespaces.
    const broker = await PrivateMosquitto.start(hosts[0].gateway, [hosts[1].gateway]);
    brokers.push(broker);
    for (const [i, h] of hosts.entries()) {
      agents.push(
        await startAgentProcess(
          `${prefix}-h${i + 1}`,
          `mqtt://${h.gateway}:${broker.port}`,
          ['--insecure', '--label', `host=h${i + 1}`],
          {
            wrap: h.exec,
          },
        ),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await Promise.all(brokers.map((b) => b.stop()));
    for (const h of hosts) h.remove();
  });

  it('runs a scenario across them, each agent reaching the broker from its own address', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: netns
tracers: [{ use: proc, on: "${prefix}-*", interval: 200ms }]
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1s } }
`,
    );
    const store = join(dir, 'store');
    const r = await runCli([
      'run',
      file,
      '--broker',
      `mqtt://${hosts[0].gateway}:${brokers[0].port}`,
      '--store-dir',
      store,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    const samples = decodeLines(readFileSync(join(store, 'runs', record.id, 'samples.lp'), 'utf8'));
    expect(new Set(samples.filter((s) => s.measurement === 'net').map((s) => s.tags.host))).toEqual(
      new Set([`${prefix}-h1`, `${prefix}-h2`]),
    );
    // Inside a namespace the only interfaces are its veth end (and lo, excluded): the data
    // really comes from separate network stacks.
    const interfaces = (host: string) =>
      new Set(
        samples.filter((s) => s.measurement === 'net' && s.tags.host === host).map((s) => s.tags.interface),
      );
    expect([...interfaces(`${prefix}-h1`)]).toEqual([expect.stringMatching(/^sc-i\d+1$/)]);
    expect([...interfaces(`${prefix}-h2`)]).toEqual([expect.stringMatching(/^sc-i\d+2$/)]);
    expect(record.streams.every((s: { complete: boolean }) => s.complete)).toBe(true);
  });
});
