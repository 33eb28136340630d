import type { RunRecord, StepRecord } from '../store/run-record.js';

/** What the run reports as it goes; the CLI renders it as live progress or plain lines. */
export interface RunObserver {
  runStarted?(run: { id: string; scenario: string; steps: number; location: string }): void;
  /** `planned`: iterations known in advance; `durationMs`: how long a time-bound runner runs. */
  stepStarted?(step: {
    name: string;
    index: number;
    planned?: number;
    durationMs?: number;
    runner: string;
  }): void;
  /** `done` and `failures` count every iteration so far, warmup included; `missed`: the rate runner's missed starts. */
  iterationEnded?(progress: {
    step: string;
    done: number;
    failures: number;
    durationMs: number;
    ok: boolean;
    warmup?: boolean;
    missed?: number;
  }): void;
  stepEnded?(record: StepRecord): void;
  /** Something worth a line: waiting for agents, an agent lost, a tracer that failed. */
  note?(text: string): void;
  runEnded?(record: RunRecord): void;
}
