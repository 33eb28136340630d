import { Args, Flags } from '@oclif/core';
import { afterRun, afterRunFlags, checkAfterRunFlags } from '../cli/after-run.js';
import { BaseCommand } from '../cli/base-command.js';
import { brokerFlags } from '../cli/broker-flags.js';
import { defaultIntervalMs, tracerSchemas, workloadSchemas } from '../cli/catalog.js';
import { commandCatalogFlags, operatorCatalogOf } from '../cli/command-catalog-flags.js';
import { scenarioFlags, storeFlags } from '../cli/flags.js';
import { connectFleet } from '../cli/fleet.js';
import { createProgress, silentProgress } from '../cli/progress.js';
import { openStore } from '../cli/store-factory.js';
import { renderSummary } from '../cli/summary.js';
import { parseDuration } from '../core/duration.js';
import { ExitCode, InputError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { executeRun } from '../orchestrator/run.js';
import { loadScenarioFile } from '../scenario/load.js';

export default class Run extends BaseCommand {
  static summary =
    'Run a scenario: drive its workload step by step with tracers attached, and store the results.';
  static description =
    `Starts an embedded MQTT broker and an in-process agent (the all-in-one default), runs every step, and stores the run in the local store, or in InfluxDB with --influx (what InfluxDB cannot take is spooled under --store-dir: that does not change the exit code, and "scalpels runs push" delivers it later).

Exit codes: 0 passed; 1 an SLA failed; 2 invalid scenario or flags; 3 runtime failure (agent, tracer, store); 130 interrupted (the run is still stored).`;
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
    json: Flags.boolean({ description: 'Print the run record as JSON on stdout instead of the summary.' }),
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
      description: "Agents stop this run's tracers by themselves if the runner stops renewing for this long.",
      default: '30s',
      helpValue: 'duration',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Run);
    // Bad report/gate flags are input errors: say so before the run, not after it.
    checkAfterRunFlags(flags);
    if (flags.broker && flags['allow-commands'])
      throw new InputError(
        '--allow-commands is for the in-process agent; agents on a --broker allow commands themselves (scalpels agent --allow-commands)',
      );
    const operatorCatalog = await operatorCatalogOf(flags);
    const loaded = loadScenarioFile(args.scenario, {
      tracers: tracerSchemas,
      workloads: workloadSchemas,
      argFlags: flags.arg,
      argsFile: flags['args-file'],
    });
    const log = createLogger({ level: flags.debug ? 'debug' : 'warn' });
    const write = (text: string) => process.stderr.write(text);
    const observer = flags.quiet
      ? silentProgress
      : createProgress({ live: Boolean(process.stderr.isTTY) && !process.env.CI, write });

    const interrupt = new AbortController();
    let interrupts = 0;
    const onSignal = () => {
      interrupts++;
      if (interrupts > 1) process.exit(ExitCode.Interrupted);
      write('\nInterrupted: stopping tracers and saving the run (Ctrl-C again to quit at once).\n');
      interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const store = openStore(flags, log);
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
        agentWaitMs: parseDurationFlag('--agent-wait', flags['agent-wait']),
        leaseMs: parseDurationFlag('--lease', flags.lease),
        onAgentLoss: flags['on-agent-loss'] as 'fail' | 'continue',
        onlyAgents: fleet.onlyAgents,
      });
    } finally {
      await fleet.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const { record, location } = outcome;
    if (flags.json) this.log(JSON.stringify(record, null, 2));
    else this.log(renderSummary(record, location));
    const afterCode = await afterRun(record, flags, store);
    const exitCode = Math.max(record.exitCode, afterCode ?? ExitCode.Ok);
    if (exitCode !== ExitCode.Ok) this.exit(exitCode);
  }
}

function parseDurationFlag(flag: string, value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InputError(`${flag}: ${(err as Error).message}`);
  }
}
