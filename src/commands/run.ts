import { Args, Flags } from '@oclif/core';
import {
  type AfterRunResult,
  afterRun,
  afterRunFlags,
  checkAfterRunFlags,
  planAfterRun,
} from '../cli/after-run.js';
import { BaseCommand } from '../cli/base-command.js';
import { brokerFlags } from '../cli/broker-flags.js';
import { defaultIntervalMs, tracerSchemas, workloadSchemas } from '../cli/catalog.js';
import { catalogFromFlags, commandCatalogFlags } from '../cli/command-catalog-flags.js';
import { durationFlag, scenarioFlags, storeFlags } from '../cli/flags.js';
import { connectFleet } from '../cli/fleet.js';
import { createProgress, ignoreClosedPipe, silentProgress } from '../cli/progress.js';
import { type OpenedStore, openStore } from '../cli/store-factory.js';
import { renderSummary } from '../cli/summary.js';
import { ExitCode, InputError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import type { RunObserver } from '../orchestrator/observer.js';
import { executeRun } from '../orchestrator/run.js';
import { MIN_LEASE_MS } from '../protocol/schema.js';
import { loadScenarioFile } from '../scenario/load.js';
import type { RunRecord } from '../store/run-record.js';
import { marksInterruptedSync } from '../store/store.js';

export default class Run extends BaseCommand {
  static summary =
    'Run a scenario: drive its workload step by step with tracers attached, and store the results.';
  static description =
    `Starts an embedded MQTT broker and an in-process agent (the all-in-one default), runs every step, and stores the run in the local store, or in InfluxDB with --influx (what InfluxDB cannot take is spooled under --store-dir: that does not change the exit code, and "scalpels runs push" delivers it later).

With --compare-to, the baseline and the --step names are checked before the run starts; the comparison is stored in the run's record (key "comparison"), and a failed gate makes the run "failed".

Exit codes: 0 passed; 1 an SLA, threshold or gate failed; 2 invalid scenario or flags; 3 runtime failure (agent, tracer, store); 130 interrupted by Ctrl-C or SIGTERM (the run is still stored as "interrupted").`;
  static examples = [
    '<%= config.bin %> run examples/quickstart.yaml',
    '<%= config.bin %> run scenario.yaml --arg iterations=50 --arg concurrency=4',
    '<%= config.bin %> run scenario.yaml --json > summary.json',
    '<%= config.bin %> run examples/fault-injection.yaml --allow-commands --commands-dir ./commands.d',
  ];
  static args = { scenario: Args.string({ description: 'Scenario YAML file.', required: true }) };
  static flags = {
    ...scenarioFlags,
    ...storeFlags,
    ...afterRunFlags,
    json: Flags.boolean({
      description:
        'Print the run record as JSON on stdout instead of the summary (with --compare-to, the comparison is in it; its text goes to stderr).',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
    ...brokerFlags,
    ...commandCatalogFlags,
    'agent-wait': Flags.string({
      description: 'How long to wait for the selected agents to be online.',
      default: '30s',
      helpValue: 'duration',
    }),
    'on-agent-loss': Flags.string({
      description:
        'When an agent drops out mid-run: `fail` finishes the run for the others and exits 3; `continue` exits as if it had not.',
      options: ['fail', 'continue'],
      default: 'fail',
    }),
    lease: Flags.string({
      description:
        "Agents stop this run's tracers by themselves if the runner stops renewing for this long (at least 1s).",
      default: '30s',
      helpValue: 'duration',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Run);
    // A reader that goes away (`| head -1`) must not take the run down with it.
    ignoreClosedPipe(process.stdout);
    ignoreClosedPipe(process.stderr);
    // Bad flags are input errors: say so before the run, not after it.
    checkAfterRunFlags(flags);
    const agentWaitMs = durationFlag('--agent-wait', flags['agent-wait']);
    const leaseMs = durationFlag('--lease', flags.lease, MIN_LEASE_MS);
    if (flags.broker && flags['allow-commands'])
      throw new InputError(
        '--allow-commands is for the in-process agent; agents on a --broker allow commands themselves (scalpels agent --allow-commands)',
      );
    const operatorCatalog = await catalogFromFlags(flags);
    const loaded = loadScenarioFile(args.scenario, {
      tracers: tracerSchemas,
      workloads: workloadSchemas,
      argFlags: flags.arg,
      argsFile: flags['args-file'],
    });
    const log = createLogger({ level: flags.debug ? 'debug' : 'warn' });
    const store = openStore(flags, log);
    const plan = await planAfterRun(
      flags,
      store,
      loaded.scenario.steps.map((s) => s.name),
    );
    const write = (text: string) => process.stderr.write(text);
    const progress = flags.quiet
      ? silentProgress
      : createProgress({ live: Boolean(process.stderr.isTTY) && !process.env.CI, write });
    let runId: string | undefined;
    const observer: RunObserver = {
      ...progress,
      runStarted: (r) => {
        runId = r.id;
        progress.runStarted?.(r);
      },
    };

    const interrupt = new AbortController();
    let interrupts = 0;
    const onSignal = () => {
      interrupts++;
      if (interrupts > 1) {
        // Quit at once, but leave neither a `running` record (marked here, synchronously) nor
        // the process groups of running actions (killed at exit, see hooks.ts) behind.
        if (runId && marksInterruptedSync(store))
          store.markInterruptedSync(runId, 'interrupted twice: quit without stopping tracers or teardown');
        process.exit(ExitCode.Interrupted);
      }
      write('\nInterrupted: stopping tracers and saving the run (Ctrl-C again to quit at once).\n');
      interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const fleet = await connectFleet(flags, log, operatorCatalog);
    let outcome: Awaited<ReturnType<typeof executeRun>>;
    try {
      outcome = await executeRun(loaded, {
        client: fleet.client,
        store,
        log,
        observer,
        signal: interrupt.signal,
        defaultIntervalMs,
        agentWaitMs,
        leaseMs,
        onAgentLoss: flags['on-agent-loss'] as 'fail' | 'continue',
        onlyAgents: fleet.onlyAgents,
      });
    } finally {
      await fleet.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const { record, location } = outcome;
    // The summary on stdout names the error too, but stdout may be a file or a pipe: the
    // person at the terminal must still learn why the run failed.
    if (record.error && (flags.json || !process.stdout.isTTY))
      process.stderr.write(`Error: ${record.error}\n`);
    if (!flags.json) this.log(renderSummary(record, location));
    // With --json, stdout holds one document: the record, comparison included.
    const toStderr = (line: string) => {
      if (!flags.quiet) process.stderr.write(`${line}\n`);
    };
    try {
      const after = await afterRun(
        record,
        flags,
        store,
        plan,
        flags.json ? toStderr : (line) => this.log(line),
      );
      await settleRecord(record, after, store);
    } finally {
      if (flags.json) this.log(JSON.stringify(record, null, 2));
    }
    if (record.exitCode !== ExitCode.Ok) this.exit(record.exitCode);
  }
}

/**
 * Puts the comparison into the stored record, and makes the record's status and exit code
 * the process's: a failed gate turns a passed run into a failed one (exit 1).
 */
async function settleRecord(record: RunRecord, after: AfterRunResult, store: OpenedStore): Promise<void> {
  if (!after.comparison) return;
  record.comparison = after.comparison;
  if (after.exitCode === ExitCode.GateFailed && record.status === 'passed') record.status = 'failed';
  record.exitCode = Math.max(record.exitCode, after.exitCode);
  await store.writeRecord(record);
}
