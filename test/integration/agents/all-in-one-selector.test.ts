import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';

describe('the all-in-one run (embedded broker, in-process agent)', () => {
  it('fails at once on a selector its only agent does not match, instead of waiting --agent-wait', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: storage
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    tracers: [{ use: proc, on: { role: storage } }]
`,
    );
    const t0 = Date.now();
    const r = await runCli(['run', file, '--store-dir', join(dir, 'store'), '--agent-wait', '30s']);
    const tookMs = Date.now() - t0;
    expect(r.code).toBe(3);
    const waited = /waited (\d+)s for agents labelled role=storage; online: \S+/.exec(r.stdout + r.stderr);
    expect(waited, r.stdout + r.stderr).not.toBeNull();
    // Not the 30 s of --agent-wait: only as long as the in-process agent takes to announce itself.
    expect(Number(waited![1])).toBeLessThanOrEqual(3);
    expect(tookMs).toBeLessThan(30_000);
    console.log(`all-in-one, unmatched selector: exit 3 after ${tookMs} ms`);
  });
});
