/**
 * Pure parsers of the `fsio` tracer: deltas of /proc/<pid>/io, and the file and operation of
 * a system call traced by `strace -y` (which prints the path of every descriptor).
 */
import type { StraceCall } from '../syscalls/parse.js';

/** The counters of /proc/<pid>/io the tracer writes, in the file's order. */
export const IO_COUNTERS = [
  'rchar',
  'wchar',
  'syscr',
  'syscw',
  'read_bytes',
  'write_bytes',
  'cancelled_write_bytes',
] as const;
/** One of {@link IO_COUNTERS}. */
export type IoCounter = (typeof IO_COUNTERS)[number];

/**
 * The growth of each counter between two readings of the same process. A counter missing from
 * either reading is left out; a counter that went down (it never should) counts as 0.
 */
export function ioDeltas(
  previous: ReadonlyMap<string, bigint> | undefined,
  current: ReadonlyMap<string, bigint>,
): Partial<Record<IoCounter, bigint>> {
  const out: Partial<Record<IoCounter, bigint>> = {};
  for (const key of IO_COUNTERS) {
    const now = current.get(key);
    if (now === undefined) continue;
    // No previous reading: the process started during the interval, so everything is new.
    const before = previous === undefined ? 0n : previous.get(key);
    if (before === undefined) continue;
    out[key] = now > before ? now - before : 0n;
  }
  return out;
}

/** What a file operation is, for the `op` tag: a small fixed set, to bound cardinality. */
export type FileOp = 'read' | 'write' | 'open' | 'stat' | 'unlink' | 'rename' | 'sync' | 'other';

const OPS: Record<string, FileOp> = {
  read: 'read',
  pread64: 'read',
  readv: 'read',
  preadv: 'read',
  preadv2: 'read',
  write: 'write',
  pwrite64: 'write',
  writev: 'write',
  pwritev: 'write',
  pwritev2: 'write',
  open: 'open',
  openat: 'open',
  openat2: 'open',
  creat: 'open',
  stat: 'stat',
  lstat: 'stat',
  newfstatat: 'stat',
  fstatat64: 'stat',
  statx: 'stat',
  access: 'stat',
  faccessat: 'stat',
  faccessat2: 'stat',
  readlink: 'stat',
  readlinkat: 'stat',
  unlink: 'unlink',
  unlinkat: 'unlink',
  rmdir: 'unlink',
  rename: 'rename',
  renameat: 'rename',
  renameat2: 'rename',
  fsync: 'sync',
  fdatasync: 'sync',
};

/**
 * The `-e trace=` set of the paths mode: every call that takes a file name (strace's %file
 * class), the read and write families, and fsync.
 */
export const STRACE_FILE_TRACE_SET =
  '%file,read,write,pread64,pwrite64,readv,writev,preadv,pwritev,preadv2,pwritev2,fsync,fdatasync';

/** The `op` of a system call name; `other` for the rest of %file (mkdir, chmod, execve, ...). */
export function fileOpOf(syscall: string): FileOp {
  return OPS[syscall] ?? 'other';
}

/** One file operation found in a traced call. */
export interface FileOperation {
  path: string;
  op: FileOp;
  /** Bytes moved by a successful read or write; 0 otherwise. */
  bytes: number;
  error: boolean;
  durationUs: number;
}

/**
 * Reads a C string as strace quotes it, starting at the opening quote; returns the text and
 * the index after the closing quote. Handles strace's escapes (\" \\ \n \t \r \ooo \xNN).
 */
export function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  if (text[start] !== '"') return undefined;
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') return { value, end: i + 1 };
    if (ch !== '\\') {
      value += ch;
      continue;
    }
    const next = text[i + 1];
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4));
    const hex = next === 'x' ? /^[0-9a-fA-F]{2}/.exec(text.slice(i + 2, i + 4)) : null;
    if (octal) {
      value += String.fromCharCode(Number.parseInt(octal[0], 8));
      i += octal[0].length;
    } else if (hex) {
      value += String.fromCharCode(Number.parseInt(hex[0], 16));
      i += 3;
    } else {
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : (next ?? '');
      i += 1;
    }
  }
  return undefined;
}

/** The path -y printed for a descriptor (`3</etc/passwd>`), without a ` (deleted)` note. */
function descriptorPath(printed: string): string {
  return printed.replace(/ \(deleted\)$/, '');
}

/** A leading descriptor argument with its -y path: `3</tmp/x>` followed by `,` or `)`. */
const FD_ARG = /^\s*-?\d+<(.*?)>(?=\s*[,)])/;

/** `dir` joined with a relative `name`; `name` itself when absolute or when there is no dir. */
function resolveAt(dir: string | undefined, name: string): string {
  if (name.startsWith('/') || dir === undefined) return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/**
 * The file a traced call worked on, as a path: the -y path of its descriptor (read, write,
 * fsync), the descriptor it returned (open), or its file-name argument, made absolute against
 * the directory descriptor of the *at calls (-y prints AT_FDCWD as the working directory).
 * Relative to an unknown working directory (open, stat), a name stays as written.
 */
export function callPath(call: StraceCall): string | undefined {
  const op = fileOpOf(call.name);
  const args = call.args;
  if (op === 'read' || op === 'write' || op === 'sync') {
    const m = FD_ARG.exec(args);
    return m ? descriptorPath(m[1]) : undefined;
  }
  if (op === 'open' && call.result.fdPath !== undefined) return descriptorPath(call.result.fdPath);

  let dir: string | undefined;
  let rest = args;
  const fd = FD_ARG.exec(rest);
  if (fd) {
    dir = descriptorPath(fd[1]);
    rest = rest.slice(fd[0].length);
  } else {
    // -y decodes AT_FDCWD too, as the working directory: `AT_FDCWD</srv/app>`.
    const cwd = /^\s*AT_FDCWD(?:<(.*?)>)?(?=\s*,)/.exec(rest);
    if (cwd) {
      dir = cwd[1] === undefined ? undefined : descriptorPath(cwd[1]);
      rest = rest.slice(cwd[0].length);
    }
  }
  rest = rest.replace(/^\s*,\s*/, '');
  const quoted = readQuoted(rest, 0);
  if (!quoted) return dir;
  // AT_EMPTY_PATH: an empty name means the descriptor itself.
  if (quoted.value === '') return dir;
  return resolveAt(dir, quoted.value);
}

/**
 * The file operation of a traced call, or undefined when it touched no file: sockets, pipes
 * and anonymous inodes (`socket:[123]`) are not files, and are left to the network tracers.
 */
export function fileOperationOf(call: StraceCall): FileOperation | undefined {
  const path = callPath(call);
  if (path === undefined || path === '' || /^[a-z_]+:\[/.test(path)) return undefined;
  const op = fileOpOf(call.name);
  const error = call.result.errno !== undefined;
  let bytes = 0;
  if (!error && (op === 'read' || op === 'write') && /^\d+$/.test(call.result.value)) {
    bytes = Number(call.result.value);
  }
  return { path, op, bytes, error, durationUs: call.durationUs ?? 0 };
}
