import { Args, Flags } from '@oclif/core';
import { DEFAULT_REPORT_FILE, htmlFlags, numberFlag } from '../cli/after-run.js';
import { BaseCommand } from '../cli/base-command.js';
import { storeFlags } from '../cli/flags.js';
import { openStore } from '../cli/store-factory.js';
import { loadStored, renderReport, resolveRecords, writeOutput } from '../report/api.js';

export default class Report extends BaseCommand {
  static summary =
    'Write a self-contained HTML report of one run, or a comparison of several (the first is the baseline).';
  static description =
    `One HTML file with everything inline (styles, charts, data): it opens offline, makes no network request, and prints.
Statistics use every sample; charts are downsampled for drawing only.

Exit codes: 0 written; 2 invalid input (unknown run, bad flag, broken template); 3 the store could not be read.`;
  static examples = [
    '<%= config.bin %> report latest',
    '<%= config.bin %> report baseline latest -o compare.html',
    '<%= config.bin %> report latest~2 latest~1 latest --templates ./my-templates',
  ];
  static strict = false;
  static args = {
    runs: Args.string({
      description:
        'Runs (id, unique id prefix, tag, latest, latest~N); the first is the baseline. Default: latest.',
    }),
  };
  static flags = {
    ...storeFlags,
    output: Flags.string({
      char: 'o',
      description: 'HTML file to write.',
      default: DEFAULT_REPORT_FILE,
      helpValue: 'file',
    }),
    ...htmlFlags,
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Report);
    const refs = (argv as string[]).length ? (argv as string[]) : ['latest'];
    const store = openStore(flags);
    const records = await resolveRecords(store, refs);
    const { html } = renderReport(await loadStored(store, records), {
      templatesDir: flags.templates,
      tolerancePct: numberFlag('tolerance', flags.tolerance, 0, 1e6),
    });
    this.log(await writeOutput(flags.output, html));
  }
}
