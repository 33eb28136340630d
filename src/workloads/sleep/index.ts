import { parseDuration } from '../../core/duration.js';
import type { WorkloadDefinition } from '../types.js';

interface SleepParams {
  duration: string | number;
}

/** An idle observation window: tracers record the system at rest. */
export const sleepWorkload: WorkloadDefinition<SleepParams> = {
  name: 'sleep',
  summary: 'Wait for a duration each iteration: an idle window for the tracers to observe.',
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['duration'],
    properties: {
      duration: {
        type: ['string', 'number'],
        minimum: 0,
        pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$',
        'x-expect': 'a duration such as 500ms, 2s, 1m or a number of seconds',
      },
    },
  },
  example: { use: 'sleep', with: { duration: '2s' } },
  create(params) {
    const ms = parseDuration(params.duration);
    return {
      iterate: ({ signal }) =>
        new Promise((resolve) => {
          if (signal.aborted) return resolve({ ok: false, error: 'interrupted' });
          // The listener is removed when the sleep ends: the signal is shared by every
          // iteration of the step, and thousands of stale listeners would leak.
          const onAbort = () => {
            clearTimeout(timer);
            resolve({ ok: false, error: 'interrupted' });
          };
          const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve({ ok: true });
          }, ms);
          signal.addEventListener('abort', onAbort, { once: true });
        }),
    };
  },
};
