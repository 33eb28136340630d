import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';
import { renderSummary } from '../../cli/summary.js';

export default class RunsShow extends BaseCommand {
  static summary = 'Show one stored run: its summary, or its whole record as JSON.';
  static examples = [
    '<%= config.bin %> runs show latest',
    '<%= config.bin %> runs show 20261124-1530 --json',
  ];
  static args = {
    run: Args.string({
      description: 'Run id, unique id prefix, latest, latest~N, or a tag.',
      default: 'latest',
    }),
  };
  static flags = { ...storeFlags, json: Flags.boolean({ description: 'Print run.json.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsShow);
    const store = openStore(flags);
    const record = await store.resolveRun(args.run);
    if (flags.json) this.log(JSON.stringify(record, null, 2));
    else this.log(renderSummary(record, store.location(record.id)));
  }
}
