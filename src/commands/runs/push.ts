import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { storeFlags } from '../../cli/flags.js';
import { influxCredentials } from '../../cli/store-factory.js';
import { InputError } from '../../core/errors.js';
import { createLogger } from '../../core/logger.js';
import { InfluxStore } from '../../store/influx/influx-store.js';
import { pushRuns } from '../../store/influx/push.js';
import { LocalStore } from '../../store/local/local-store.js';

export default class RunsPush extends BaseCommand {
  static summary = 'Send runs to InfluxDB: a local run, and what a run spooled while InfluxDB was down.';
  static description =
    `With a run reference, uploads that local run (samples, then its record) and replays its spool if it has one. Without one, replays every spooled run in --store-dir. Pushing twice is harmless: InfluxDB keeps one point per series and timestamp.`;
  static examples = [
    '<%= config.bin %> runs push latest --influx http://influx:8086/scalpels',
    '<%= config.bin %> runs push --influx http://influx:8086/scalpels',
  ];
  static args = {
    run: Args.string({
      description: 'Run id, unique id prefix, latest, latest~N, or a tag. Default: every spooled run.',
    }),
  };
  static flags = { ...storeFlags, json: Flags.boolean({ description: 'Print what was pushed as JSON.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RunsPush);
    if (!flags.influx) throw new InputError('runs push needs --influx URL (or SCALPELS_INFLUX_URL)');
    const log = createLogger({ level: flags.debug ? 'debug' : 'warn' });
    const influx = new InfluxStore({
      url: flags.influx,
      credentials: influxCredentials(flags),
      storeDir: flags['store-dir'],
      log,
    });
    const pushed = await pushRuns(new LocalStore(flags['store-dir']), influx, args.run);
    if (flags.json) {
      this.log(JSON.stringify(pushed, null, 2));
      return;
    }
    if (pushed.length === 0) this.log(`Nothing spooled in ${flags['store-dir']}.`);
    for (const p of pushed) {
      const parts: string[] = [];
      if (p.uploaded) parts.push(`${p.uploaded.samples} samples uploaded`);
      if (p.drained)
        parts.push(`${p.drained.samples} spooled samples replayed (${p.drained.batches} batches)`);
      const dropped = (p.uploaded?.dropped ?? 0) + (p.drained?.dropped ?? 0);
      if (dropped > 0) parts.push(`${dropped} refused by InfluxDB`);
      this.log(`Run ${p.runId}: ${parts.join(', ')} to ${influx.url}`);
    }
  }
}
