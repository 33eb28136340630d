import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';

export default class RunsRm extends BaseCommand {
  static summary = 'Delete a stored run: its record and all its samples.';
  static examples = [
    '<%= config.bin %> runs rm 20261124-153012-ab12',
    '<%= config.bin %> runs rm latest --influx http://influx:8086/scalpels',
  ];
  static args = {
    run: Args.string({
      description: 'Run id, unique id prefix, latest, latest~N, or a tag.',
      required: true,
    }),
  };
  static flags = { ...storeFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsRm);
    const store = openStore(flags);
    const record = await store.resolveRun(args.run);
    await store.removeRun(record.id);
    this.log(`Removed run ${record.id} from ${store.location(record.id)}.`);
  }
}
