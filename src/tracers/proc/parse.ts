/**
 * Pure parsers of the host-wide /proc files the `proc` tracer reads, and the arithmetic that
 * turns them into Telegraf's `cpu`, `mem`, `system`, `diskio` and `net` fields. No I/O here,
 * so that every number can be checked against fixtures.
 */

/**
 * Kernel clock ticks per second for /proc/stat times. The kernel always exports these in
 * USER_HZ, which is 100 on every mainstream Linux architecture (`getconf CLK_TCK` says so on
 * x86_64 and arm64) whatever the internal HZ; Node has no sysconf() to ask.
 */
export const USER_HZ = 100;

/** /proc/diskstats counts sectors of 512 bytes whatever the device's real sector size. */
export const DISKSTATS_SECTOR_BYTES = 512n;

/** The ten CPU time columns of a /proc/stat `cpu` line, in clock ticks. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guest_nice: number;
}

const CPU_COLUMNS: (keyof CpuTimes)[] = [
  'user',
  'nice',
  'system',
  'idle',
  'iowait',
  'irq',
  'softirq',
  'steal',
  'guest',
  'guest_nice',
];

/**
 * The `cpu` and `cpuN` lines of /proc/stat, keyed by their first word. Columns missing on old
 * kernels (steal, guest, guest_nice) read as 0.
 */
export function parseCpuTimes(stat: string): Map<string, CpuTimes> {
  const out = new Map<string, CpuTimes>();
  for (const line of stat.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [label, ...cols] = line.trim().split(/\s+/);
    const times = {} as CpuTimes;
    CPU_COLUMNS.forEach((c, i) => {
      times[c] = Number(cols[i] ?? 0);
    });
    out.set(label, times);
  }
  return out;
}

/** Number of online CPUs: the `cpuN` lines of /proc/stat (offline CPUs have none). */
export function countCpus(times: Map<string, CpuTimes>): number {
  let n = 0;
  for (const label of times.keys()) if (label !== 'cpu') n++;
  return n;
}

/** Telegraf's `cpu` usage fields, in percent over the interval between two readings. */
export type CpuUsage = Record<
  | 'usage_user'
  | 'usage_system'
  | 'usage_idle'
  | 'usage_nice'
  | 'usage_iowait'
  | 'usage_irq'
  | 'usage_softirq'
  | 'usage_steal'
  | 'usage_guest'
  | 'usage_guest_nice'
  | 'usage_active',
  number
>;

/**
 * CPU usage between two readings, computed as Telegraf does: guest time is already counted in
 * user (and guest_nice in nice), so it is left out of the total and subtracted from user/nice;
 * active is everything but idle. Returns undefined when no tick elapsed.
 *
 * Unlike Telegraf, a column that went backwards (iowait may, see proc(5); a CPU that went
 * offline and back) counts as 0 instead of producing a negative percentage, so the usage
 * fields always sum to 100.
 */
export function cpuUsage(prev: CpuTimes, cur: CpuTimes): CpuUsage | undefined {
  const d = {} as CpuTimes;
  for (const c of CPU_COLUMNS) d[c] = Math.max(0, cur[c] - prev[c]);
  const total = d.user + d.nice + d.system + d.idle + d.iowait + d.irq + d.softirq + d.steal;
  if (total <= 0) return undefined;
  const pct = (v: number) => (100 * v) / total;
  return {
    usage_user: pct(Math.max(0, d.user - d.guest)),
    usage_system: pct(d.system),
    usage_idle: pct(d.idle),
    usage_nice: pct(Math.max(0, d.nice - d.guest_nice)),
    usage_iowait: pct(d.iowait),
    usage_irq: pct(d.irq),
    usage_softirq: pct(d.softirq),
    usage_steal: pct(d.steal),
    usage_guest: pct(d.guest),
    usage_guest_nice: pct(d.guest_nice),
    usage_active: pct(total - d.idle),
  };
}

/**
 * /proc/meminfo as a map from key to value, in bytes for `kB` lines and as-is for counts
 * (HugePages_*).
 */
export function parseMeminfo(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(\s+kB)?/.exec(line);
    if (m) out.set(m[1], m[3] ? BigInt(m[2]) * 1024n : BigInt(m[2]));
  }
  return out;
}

/** Telegraf's `mem` field name for each /proc/meminfo key it reports as-is. */
const MEMINFO_FIELDS: Record<string, string> = {
  MemTotal: 'total',
  MemFree: 'free',
  Buffers: 'buffered',
  Active: 'active',
  Inactive: 'inactive',
  Slab: 'slab',
  SReclaimable: 'sreclaimable',
  SUnreclaim: 'sunreclaim',
  Shmem: 'shared',
  Mapped: 'mapped',
  Dirty: 'dirty',
  Writeback: 'write_back',
  WritebackTmp: 'write_back_tmp',
  PageTables: 'page_tables',
  SwapCached: 'swap_cached',
  SwapTotal: 'swap_total',
  SwapFree: 'swap_free',
  CommitLimit: 'commit_limit',
  Committed_AS: 'committed_as',
  VmallocTotal: 'vmalloc_total',
  VmallocUsed: 'vmalloc_used',
  VmallocChunk: 'vmalloc_chunk',
  HugePages_Total: 'huge_pages_total',
  HugePages_Free: 'huge_pages_free',
  Hugepagesize: 'huge_page_size',
};

/**
 * Telegraf's `mem` fields (gopsutil's arithmetic): `cached` includes SReclaimable, `used` is
 * total − free − buffers − cached, and `available` falls back to free + buffers + cached on
 * kernels older than 3.14 that lack MemAvailable. Integers are bytes; percentages are floats.
 */
export function memFields(meminfo: Map<string, bigint>): Record<string, bigint | number> {
  const get = (k: string) => meminfo.get(k) ?? 0n;
  const fields: Record<string, bigint | number> = {};
  for (const [key, field] of Object.entries(MEMINFO_FIELDS)) {
    const v = meminfo.get(key);
    if (v !== undefined) fields[field] = v;
  }
  const total = get('MemTotal');
  const cached = get('Cached') + get('SReclaimable');
  const available = meminfo.get('MemAvailable') ?? get('MemFree') + get('Buffers') + cached;
  const used = total - get('MemFree') - get('Buffers') - cached;
  // Inside some containers the numbers do not add up; a negative byte count helps nobody.
  const usedClamped = used < 0n ? 0n : used;
  fields.total = total;
  fields.cached = cached;
  fields.available = available;
  fields.used = usedClamped;
  if (total > 0n) {
    fields.used_percent = (100 * Number(usedClamped)) / Number(total);
    fields.available_percent = (100 * Number(available)) / Number(total);
  }
  return fields;
}

/** /proc/loadavg: the three load averages, then `running/total` scheduling entities. */
export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
  running: number;
  total: number;
}

export function parseLoadavg(text: string): LoadAvg {
  const [l1, l5, l15, rt] = text.trim().split(/\s+/);
  const [running, total] = (rt ?? '0/0').split('/').map(Number);
  return { load1: Number(l1), load5: Number(l5), load15: Number(l15), running, total };
}

/** Seconds since boot, the first number of /proc/uptime. */
export function parseUptime(text: string): number {
  return Number(text.trim().split(/\s+/)[0]);
}

/** One line of /proc/diskstats; counters are cumulative since boot (times in ms). */
export interface DiskStats {
  major: number;
  minor: number;
  name: string;
  reads: bigint;
  mergedReads: bigint;
  sectorsRead: bigint;
  readTimeMs: bigint;
  writes: bigint;
  mergedWrites: bigint;
  sectorsWritten: bigint;
  writeTimeMs: bigint;
  iosInProgress: bigint;
  ioTimeMs: bigint;
  weightedIoTimeMs: bigint;
}

export function parseDiskstats(text: string): DiskStats[] {
  const out: DiskStats[] = [];
  for (const line of text.split('\n')) {
    const c = line.trim().split(/\s+/);
    if (c.length < 14) continue;
    const n = (i: number) => BigInt(c[i]);
    out.push({
      major: Number(c[0]),
      minor: Number(c[1]),
      name: c[2],
      reads: n(3),
      mergedReads: n(4),
      sectorsRead: n(5),
      readTimeMs: n(6),
      writes: n(7),
      mergedWrites: n(8),
      sectorsWritten: n(9),
      writeTimeMs: n(10),
      iosInProgress: n(11),
      ioTimeMs: n(12),
      weightedIoTimeMs: n(13),
    });
  }
  return out;
}

/** Telegraf's `diskio` fields for one device (cumulative counters, as Telegraf reports them). */
export function diskioFields(d: DiskStats): Record<string, bigint> {
  return {
    reads: d.reads,
    writes: d.writes,
    read_bytes: d.sectorsRead * DISKSTATS_SECTOR_BYTES,
    write_bytes: d.sectorsWritten * DISKSTATS_SECTOR_BYTES,
    read_time: d.readTimeMs,
    write_time: d.writeTimeMs,
    io_time: d.ioTimeMs,
    weighted_io_time: d.weightedIoTimeMs,
    iops_in_progress: d.iosInProgress,
    merged_reads: d.mergedReads,
    merged_writes: d.mergedWrites,
  };
}

/**
 * Whether `name` is a partition of another device in `names`, by the kernel's naming rule: a
 * partition appends its number to the disk name, with a `p` when the disk name ends in a
 * digit (sda → sda1, nvme0n1 → nvme0n1p1). This rule keeps dm-10 from passing for a
 * partition of dm-1. Used when /sys/block, the authoritative list of whole disks, is unreadable.
 */
export function looksLikePartition(name: string, names: Iterable<string>): boolean {
  for (const disk of names) {
    if (disk === name || !name.startsWith(disk)) continue;
    const rest = name.slice(disk.length);
    if (/\d$/.test(disk) ? /^p\d+$/.test(rest) : /^\d+$/.test(rest)) return true;
  }
  return false;
}

/** Loop and RAM disks mirror other I/O (or none) and would only add series. */
export function isVirtualDisk(name: string): boolean {
  return /^(loop|ram)\d+$/.test(name);
}

/** One interface of /proc/net/dev; counters are cumulative since the interface appeared. */
export interface NetDev {
  name: string;
  bytesRecv: bigint;
  packetsRecv: bigint;
  errIn: bigint;
  dropIn: bigint;
  bytesSent: bigint;
  packetsSent: bigint;
  errOut: bigint;
  dropOut: bigint;
}

export function parseNetDev(text: string): NetDev[] {
  const out: NetDev[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    // The two header lines contain '|' and no ':'.
    if (colon < 0) continue;
    const c = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (c.length < 16) continue;
    const n = (i: number) => BigInt(c[i]);
    out.push({
      name: line.slice(0, colon).trim(),
      bytesRecv: n(0),
      packetsRecv: n(1),
      errIn: n(2),
      dropIn: n(3),
      bytesSent: n(8),
      packetsSent: n(9),
      errOut: n(10),
      dropOut: n(11),
    });
  }
  return out;
}

/** Telegraf's `net` fields for one interface. */
export function netFields(d: NetDev): Record<string, bigint> {
  return {
    bytes_sent: d.bytesSent,
    bytes_recv: d.bytesRecv,
    packets_sent: d.packetsSent,
    packets_recv: d.packetsRecv,
    err_in: d.errIn,
    err_out: d.errOut,
    drop_in: d.dropIn,
    drop_out: d.dropOut,
  };
}
