import { readFileSync } from 'node:fs';
import { errorMessage, InputError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { InfluxCredentials } from '../store/influx/config.js';
import { InfluxStore } from '../store/influx/influx-store.js';
import { LocalStore } from '../store/local/local-store.js';

/** The flags of `storeFlags` (flags.ts). */
export interface StoreFlagValues {
  'store-dir': string;
  influx?: string;
  'influx-username'?: string;
  'influx-password-file'?: string;
}

/** Either store: both read, write, tag and remove runs, and say where a run lives. */
export type OpenedStore = LocalStore | InfluxStore;

/**
 * InfluxDB credentials from the flags and the environment. The password comes from a file
 * (one line; a trailing newline is ignored) or SCALPELS_INFLUX_PASSWORD, never from a flag
 * value, so it stays out of shell history and process listings.
 *
 * @throws InputError when the password file cannot be read.
 */
export function influxCredentials(
  flags: StoreFlagValues,
  env: NodeJS.ProcessEnv = process.env,
): InfluxCredentials {
  let password = env.SCALPELS_INFLUX_PASSWORD;
  const file = flags['influx-password-file'];
  if (file !== undefined) {
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new InputError(`--influx-password-file ${file}: ${errorMessage(err)}`);
    }
  }
  const username = flags['influx-username'] ?? env.SCALPELS_INFLUX_USERNAME;
  return { username: username || undefined, password: password || undefined };
}

/** Opens the store the flags name: InfluxDB with `--influx`, else the local store. */
export function openStore(flags: StoreFlagValues, log?: Logger): OpenedStore {
  if (flags.influx) {
    return new InfluxStore({
      url: flags.influx,
      credentials: influxCredentials(flags),
      storeDir: flags['store-dir'],
      log,
    });
  }
  return new LocalStore(flags['store-dir']);
}
