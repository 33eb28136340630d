import { Flags } from '@oclif/core';

/** Flags shared by the commands that read a scenario. */
export const scenarioFlags = {
  arg: Flags.string({
    description: 'Set a scenario arg (name=value, value parsed as YAML). Repeatable.',
    multiple: true,
    helpValue: 'name=value',
  }),
  'args-file': Flags.string({
    description: 'YAML file of arg values, applied before --arg.',
    helpValue: 'file.yaml',
  }),
};

/**
 * Where runs are stored: the local store directory, or InfluxDB with `--influx` (the local
 * directory then holds the spool of what could not reach InfluxDB yet). The password is read
 * from a file or the environment only, so it never shows in a process listing.
 */
export const storeFlags = {
  'store-dir': Flags.string({
    description: 'Local store directory (with --influx: where undeliverable batches are spooled).',
    env: 'SCALPELS_STORE_DIR',
    default: '.scalpels',
    helpValue: 'dir',
  }),
  influx: Flags.string({
    description: 'Store in InfluxDB instead: http://host:8086/<database>[?rp=<retention policy>].',
    env: 'SCALPELS_INFLUX_URL',
    helpValue: 'url',
  }),
  'influx-username': Flags.string({
    description: 'InfluxDB user (InfluxDB 2.x/3.x: any name, with a token as the password).',
    env: 'SCALPELS_INFLUX_USERNAME',
    helpValue: 'name',
  }),
  'influx-password-file': Flags.string({
    description: 'File holding the InfluxDB password or token (else SCALPELS_INFLUX_PASSWORD).',
    helpValue: 'file',
  }),
};
