import { errorMessage } from '../../core/errors.js';
import { runTool } from '../child-process.js';
import type { TracerContext } from '../types.js';
import { parseAusyscallDump, parseUnistdHeader } from './parse.js';

/** Where the kernel headers (Debian's linux-libc-dev) keep the syscall numbers, per Node architecture. */
const HEADER_BY_ARCH: Record<string, string> = {
  x64: '/usr/include/x86_64-linux-gnu/asm/unistd_64.h',
};

/** Names system calls by number, for bpftrace's raw_syscalls tracepoints (which only give numbers). */
export interface SyscallNames {
  /** The name of syscall `nr`, or `sys_<nr>` when the table does not know it (`unknown` for -1). */
  name(nr: number): string;
  /** The number of a named syscall, if known (to single out exit and exit_group in the script). */
  number(name: string): number | undefined;
  /** Where the table came from, for logs: a header path, `ausyscall --dump`, or `none`. */
  source: string;
  size: number;
}

/** Wraps a number→name table. */
export function syscallNames(table: Map<number, string>, source: string): SyscallNames {
  const byName = new Map([...table].map(([nr, name]) => [name, nr]));
  return {
    name: (nr) => (nr < 0 ? 'unknown' : (table.get(nr) ?? `sys_${nr}`)),
    number: (name) => byName.get(name),
    source,
    size: table.size,
  };
}

/**
 * Loads the syscall table of this machine: the kernel header first, then `ausyscall --dump`
 * (auditd) where the header is missing. With neither, numbers stay numbers (`sys_39`) and a
 * warning says what to install.
 */
export async function loadSyscallNames(ctx: TracerContext): Promise<SyscallNames> {
  const header = HEADER_BY_ARCH[process.arch];
  if (header) {
    try {
      const table = parseUnistdHeader(await ctx.readFile(header));
      if (table.size > 0) return syscallNames(table, header);
    } catch {
      // Fall through to ausyscall.
    }
  }
  try {
    const r = await runTool('ausyscall', ['--dump'], { timeoutMs: 5000 });
    const table = parseAusyscallDump(r.stdout);
    if (r.code === 0 && table.size > 0) return syscallNames(table, 'ausyscall --dump');
  } catch (err) {
    ctx.log.debug('ausyscall --dump failed', { error: errorMessage(err) });
  }
  ctx.log.warn(
    `no syscall table found (${header ?? 'no header for ' + process.arch}, ausyscall); syscalls are named by number: apt-get install linux-libc-dev`,
  );
  return syscallNames(new Map(), 'none');
}
