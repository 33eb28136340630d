import { existsSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { Flags } from '@oclif/core';
import { htmlFlags } from '../cli/after-run.js';
import { BaseCommand } from '../cli/base-command.js';
import { storeFlags } from '../cli/flags.js';
import { openStore } from '../cli/store-factory.js';
import { InputError } from '../core/errors.js';
import { renderReport, renderTrends, writeOutput } from '../report/api.js';
import { DEFAULT_TREND_METRICS } from '../report/trends.js';

export default class Trends extends BaseCommand {
  static summary =
    "Chart a scenario's stored runs over time: per step median, p95, success rate and tracer aggregates.";
  static description =
    `Every stored run of the scenario, oldest first (the last --limit runs), with each run linked to its own report, written beside the trends page in <name>-runs/ (existing reports are kept: a finished run does not change).

Exit codes: 0 written; 2 invalid input (no run of that scenario, bad metric); 3 the store could not be read.`;
  static examples = [
    '<%= config.bin %> trends --scenario keystone-token-issue -o trends.html',
    '<%= config.bin %> trends --scenario quickstart --metric "procstat.cpu_usage{process_name=sh}:avg" --limit 20',
  ];
  static flags = {
    ...storeFlags,
    scenario: Flags.string({
      description: 'Scenario name (as in its name: field).',
      required: true,
      helpValue: 'name',
    }),
    output: Flags.string({
      char: 'o',
      description: 'HTML file to write.',
      default: 'scalpels-trends.html',
      helpValue: 'file',
    }),
    metric: Flags.string({
      description: `Tracer aggregate "<metric>:<aggregation>" to trend. Repeatable. Default: ${DEFAULT_TREND_METRICS.join(', ')}.`,
      multiple: true,
      helpValue: 'metric',
    }),
    limit: Flags.integer({ description: 'Only the most recent N runs.', default: 50, min: 1 }),
    'run-reports': Flags.boolean({
      description: "Write each run's report and link it.",
      default: true,
      allowNo: true,
    }),
    templates: htmlFlags.templates,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Trends);
    const store = openStore(flags);
    const records = (await store.listRuns())
      .filter((r) => r.scenario.name === flags.scenario)
      .slice(-flags.limit);
    if (records.length === 0) {
      throw new InputError(
        `no stored run of scenario "${flags.scenario}" in ${flags.influx ?? flags['store-dir']}`,
      );
    }
    const out = flags.output;
    const runsDir = join(dirname(out), `${basename(out, extname(out))}-runs`);
    const { html } = await renderTrends(store, flags.scenario, records, {
      metrics: flags.metric,
      templatesDir: flags.templates,
      runReport: flags['run-reports']
        ? async (data) => {
            const file = join(runsDir, `${data.record.id}.html`);
            // A finished run never changes: keep its report. A running one is written again.
            if (!existsSync(file) || data.record.status === 'running') {
              await writeOutput(file, renderReport([data], { templatesDir: flags.templates }).html);
            }
            return relative(dirname(out), file).split('\\').join('/');
          }
        : undefined,
    });
    this.log(await writeOutput(out, html));
  }
}
