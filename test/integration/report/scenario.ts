/**
 * The scenario of the gate tests: two short steps of 300 ms sleeps, the second sleeping for
 * {{pause}}. 300 ms rather than less: on a machine busy with other test suites, timers fire
 * 10-20 ms late (a 200 ms sleep was seen 7.5 % slower in one run of ten, with p = 1.5e-6), and
 * that delay must stay well inside a 10 % tolerance for "no change" to mean no change. 16
 * iterations, 8 at a time: 0.6 s per step.
 */
export const GATE_SCENARIO = `version: 1
name: gate-check
description: Two short steps of sleeps; the second sleeps for {{pause}}.
args:
  pause: 300ms
steps:
  - name: steady
    workload: { use: sleep, with: { duration: 300ms } }
    runner: { type: constant, times: 16, concurrency: 8 }
  - name: changing
    workload: { use: sleep, with: { duration: "{{pause}}" } }
    runner: { type: constant, times: 16, concurrency: 8 }
`;

/**
 * The deliberate slowdown: a sleep 100 ms longer (+33 %). 50 ms (+17 %) was not enough at a
 * load average of 13 on two cores: the baseline's p95 drifted to 325 ms, leaving the slower
 * run only 8 % above it, inside the gate's 10 %.
 */
export const SLOWER = 'pause=400ms';
