import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';

export default class RunsTag extends BaseCommand {
  static summary = 'Name a run (baseline, release-1.2): the tag moves to it from any other run.';
  static description =
    `A tag names one run at a time, so CI can compare against "baseline" and move it when a change is accepted. latest and latest~N need no tag: they always name the newest runs.`;
  static examples = [
    '<%= config.bin %> runs tag latest baseline',
    '<%= config.bin %> runs tag 20261124-1530 before-upgrade',
  ];
  static args = {
    run: Args.string({
      description: 'Run id, unique id prefix, latest, latest~N, or a tag.',
      required: true,
    }),
    tag: Args.string({ description: 'The tag to put on it.', required: true }),
  };
  static flags = { ...storeFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsTag);
    const record = await openStore(flags).tagRun(args.run, args.tag);
    this.log(`Run ${record.id} is now tagged ${args.tag}.`);
  }
}
