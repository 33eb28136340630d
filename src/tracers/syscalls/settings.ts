import type { ToolBackedInstance } from '../child-process.js';

/** The tracer's own parameters (besides the process selector), with defaults applied. */
export interface SyscallsSettings {
  /** System calls kept per process and interval, by number of calls; the rest is `_other`. */
  top: number;
  /** One series per pid (true) or per process name (false). */
  perPid: boolean;
}

/** A running `syscalls` tracer, in the mode it chose. */
export interface SyscallsInstance extends ToolBackedInstance {
  mode: 'strace' | 'bpftrace';
}
