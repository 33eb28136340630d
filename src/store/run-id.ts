import { randomBytes } from 'node:crypto';
import { InputError } from '../core/errors.js';

const RUN_ID = /^\d{8}-\d{6}-[0-9a-f]{4}$/;
/** Ids a store accepts: the local store makes them directory names, so only path-safe characters. */
const STORABLE_RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/**
 * A new run id, `YYYYMMDD-HHMMSS-xxxx`: the UTC start time, then 4 random hex digits.
 *
 * UTC and fixed-width fields make ids sort by start time as plain strings, whatever the
 * machine's time zone, so a directory listing is already a history. Two runs started in the
 * same second sort by their random suffix; the stores break that tie with the record's
 * `startedAt`. The suffix only has to keep runs started in the same second on one store
 * apart, so 16 bits are plenty and the id stays short enough to type.
 */
export function newRunId(date: Date = new Date()): string {
  const day = `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}`;
  const time = `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`;
  return `${day}-${time}-${randomBytes(2).toString('hex')}`;
}

/** True when `s` has the shape `newRunId` produces. */
export function isRunId(s: string): boolean {
  return RUN_ID.test(s);
}

/**
 * Refuses an id no store can keep: anything but letters, digits, `.`, `_` and `-` (not first).
 * Ids other than newRunId's are allowed (tests, imports), but they sort by `startedAt` only.
 *
 * @throws InputError naming the id.
 */
export function validateRunId(runId: string): void {
  if (!STORABLE_RUN_ID.test(runId)) {
    throw new InputError(`"${runId}" is not a valid run id (letters, digits, ".", "_" and "-" only)`);
  }
}
