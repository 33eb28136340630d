import type { RunRecord, StepRecord } from '../store/run-record.js';

/** What the run reports as it goes; the CLI renders it as live progress or plain lines. */
export interface RunObserver {
  runStarted?(run: { id: string; scenario: string; steps: number; location: string }): void;
  stepStarted?(step: { name: string; index: number; planned?: number; runner: string }): void;
  iterationEnded?(progress: { step: string; done: number; failures: number; durationMs: number; ok: boolean }): void;
  stepEnded?(record: StepRecord): void;
  /** Something worth a line: waiting for agents, an agent lost, a tracer that failed. */
  note?(text: string): void;
  runEnded?(record: RunRecord): void;
}
