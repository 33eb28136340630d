import { Flags } from '@oclif/core';
import { parseDuration } from '../core/duration.js';
import { InputError } from '../core/errors.js';

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

/**
 * Parses a duration flag (`30s`, `500ms`), refusing what is not one or is shorter than
 * `minMs` (exit 2, before anything starts): a value the protocol would refuse later must not
 * get as far as an agent.
 */
export function durationFlag(flag: string, value: string, minMs = 0): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new InputError(`${flag}: ${(err as Error).message}`);
  }
  if (ms < minMs)
    throw new InputError(
      `${flag} ${value}: must be at least ${minMs % 1000 === 0 ? `${minMs / 1000}s` : `${minMs}ms`}`,
    );
  return ms;
}
