import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { afterRun, afterRunFlags } from '../cli/after-run.js';
import { startAllInOne } from '../cli/all-in-one.js';
import { defaultIntervalMs, tracerSchemas, workloadSchemas } from '../cli/catalog.js';
import { scenarioFlags, storeFlags } from '../cli/flags.js';
import { createProgress, silentProgress } from '../cli/progress.js';
import { openStore } from '../cli/store-factory.js';
import { renderSummary } from '../cli/summary.js';
import { ExitCode } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { executeRun } from '../orchestrator/run.js';
import { loadScenarioFile } from '../scenario/load.js';

export default class Run extends BaseCommand {
  static summary = 'Run a scenario: drive its workload step by step with tracers attached, and store the results.';
  static description = `Starts an embedded MQTT broker and an in-process agent (the all-in-one default), runs every step, and stores the run in the local store.

Exit codes: 0 passed; 1 an SLA failed; 2 invalid scenario or flags; 3 runtime failure (agent, tracer, store); 130 interrupted (the run is still stored).`;
  static examples = [
    '<%= config.bin %> run examples/quickstart.yaml',
    '<%= config.bin %> run scenario.yaml --arg iterations=50 --arg concurrency=4',
    '<%= config.bin %> run scenario.yaml --json > summary.json',
  ];
  static args = { scenario: Args.string({ description: 'Scenario YAML file.', required: true }) };
  static flags = {
    ...scenarioFlags,
    ...storeFlags,
    ...afterRunFlags,
    json: Flags.boolean({ description: 'Print the run record as JSON on stdout instead of the summary.' }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
    'agent-wait': Flags.string({ description: 'How long to wait for agents to be online.', default: '30s', helpValue: 'duration' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Run);
    const loaded = loadScenarioFile(args.scenario, {
      tracers: tracerSchemas,
      workloads: workloadSchemas,
      argFlags: flags.arg,
      argsFile: flags['args-file'],
    });
    const log = createLogger({ level: flags.debug ? 'debug' : 'warn' });
    const write = (text: string) => process.stderr.write(text);
    const observer = flags.quiet ? silentProgress : createProgress({ live: Boolean(process.stderr.isTTY) && !process.env.CI, write });

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

    const store = openStore(flags);
    const fleet = await startAllInOne(log);
    let outcome;
    try {
      outcome = await executeRun(loaded, {
        client: fleet.client,
        store,
        log,
        observer,
        signal: interrupt.signal,
        defaultIntervalMs,
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
