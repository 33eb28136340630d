import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { openStore } from '../../cli/store-factory.js';
import { InputError } from '../../core/errors.js';
import { InfluxStore } from '../../store/influx/influx-store.js';
import { adoptRun, unpackRun } from '../../store/local/archive.js';

export default class RunsImport extends BaseCommand {
  static summary = 'Add a run from a .tar.gz made by runs export, to the local store or to InfluxDB.';
  static description =
    'Tags are not imported: a tag names one run per store. Tag the run again with runs tag.';
  static examples = [
    '<%= config.bin %> runs import run.tar.gz',
    '<%= config.bin %> runs import run.tar.gz --influx http://influx:8086/scalpels',
  ];
  static args = { archive: Args.string({ description: 'The archive.', required: true }) };
  static flags = { ...storeFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsImport);
    const store = openStore(flags);
    const unpacked = await unpackRun(args.archive, flags['store-dir']);
    try {
      if (store instanceof InfluxStore) {
        const record = { ...unpacked.record, tags: [] };
        if ((await store.listRuns()).some((r) => r.id === record.id)) {
          throw new InputError(`run ${record.id} already exists in ${store.url}`);
        }
        const pushed = await store.uploadRun(record, unpacked.store.readSamples(record.id));
        this.log(`Imported run ${record.id} (${pushed.samples} samples) into ${store.url}.`);
      } else {
        const record = await adoptRun(unpacked, store);
        this.log(`Imported run ${record.id} into ${store.location(record.id)}.`);
      }
    } finally {
      await unpacked.cleanup();
    }
  }
}
