/**
 * A run's record as an InfluxDB point, so that `runs list` needs nothing but the store.
 *
 * Measurement `scalpels_run`, tags `run` and `scenario` (both fixed for the life of a run),
 * timestamp = the run's start. Rewriting the record (at each step end, at the end of the run,
 * when a tag moves) writes the same series at the same timestamp, which InfluxDB treats as an
 * update of that one point. The status is a field, not a tag: as a tag, every status change
 * would start a new series and leave the old point behind.
 */
import type { Sample } from '../../core/sample.js';
import type { RunRecord } from '../run-record.js';
import { RUN_MEASUREMENT } from './spool.js';

/** The point's timestamp: the run's start, in nanoseconds (0 when startedAt is unreadable). */
export function recordTime(record: RunRecord): bigint {
  const ms = Date.parse(record.startedAt);
  return Number.isNaN(ms) ? 0n : BigInt(ms) * 1_000_000n;
}

/** The record as a point. Fields besides `record` are there for Grafana and InfluxQL users. */
export function recordPoint(record: RunRecord): Sample {
  const ended = record.endedAt === undefined ? Number.NaN : Date.parse(record.endedAt);
  const point: Sample = {
    measurement: RUN_MEASUREMENT,
    tags: { run: record.id, scenario: record.scenario?.name ?? '' },
    fields: {
      record: JSON.stringify(record),
      status: record.status,
      exit_code: BigInt(record.exitCode ?? 0),
      run_tags: (record.tags ?? []).join(','),
      steps: BigInt(record.steps?.length ?? 0),
    },
    time: recordTime(record),
  };
  // For Grafana's data links: a run's time range is [time, ended_ms].
  if (!Number.isNaN(ended)) point.fields.ended_ms = BigInt(ended);
  return point;
}
