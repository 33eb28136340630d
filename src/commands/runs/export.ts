import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';
import { prepareOutputFile } from '../../core/paths.js';
import { exportRun } from '../../store/local/archive.js';

export default class RunsExport extends BaseCommand {
  static summary = 'Write a run to one .tar.gz file (run.json and its line protocol).';
  static examples = [
    '<%= config.bin %> runs export latest -o run.tar.gz',
    '<%= config.bin %> runs export baseline -o base.tar.gz --influx http://influx:8086/scalpels',
  ];
  static args = {
    run: Args.string({
      description: 'Run id, unique id prefix, latest, latest~N, or a tag.',
      required: true,
    }),
  };
  static flags = {
    ...storeFlags,
    output: Flags.string({
      char: 'o',
      description: 'The archive to write.',
      required: true,
      helpValue: 'file.tar.gz',
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsExport);
    const store = openStore(flags);
    const record = await store.resolveRun(args.run);
    await exportRun(store, record, await prepareOutputFile(flags.output));
    this.log(`Exported run ${record.id} to ${flags.output}.`);
  }
}
