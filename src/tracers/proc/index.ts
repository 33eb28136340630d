import { errorMessage } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { createSampler } from '../sampler.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import {
  type CpuTimes,
  countCpus,
  cpuUsage,
  diskioFields,
  isVirtualDisk,
  looksLikePartition,
  memFields,
  netFields,
  parseCpuTimes,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseUptime,
} from './parse.js';

/** The `with:` block of the `proc` tracer (see tracers/proc.yaml). */
export interface ProcParams {
  /** Also report one `cpu` series per CPU, tagged cpu0, cpu1, ... */
  percpu?: boolean;
  /** Block devices to report, by name; default: every whole disk but loop and RAM disks. */
  devices?: string[];
  /** Network interfaces to report; default: every interface but `lo`. */
  interfaces?: string[];
}

/** The files every tick reads; only /proc/stat is required, the others are skipped when unreadable. */
const FILES = {
  stat: '/proc/stat',
  meminfo: '/proc/meminfo',
  loadavg: '/proc/loadavg',
  uptime: '/proc/uptime',
  diskstats: '/proc/diskstats',
  netdev: '/proc/net/dev',
} as const;

/**
 * Host-wide counters from /proc, written as Telegraf's own measurements (`cpu`, `mem`,
 * `system`, `diskio`, `net`) so that existing dashboards work on Scalpels data.
 */
export const procTracer: TracerDefinition<ProcParams> = {
  name: 'proc',
  manifest: loadTracerManifest('proc'),

  async unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    try {
      await ctx.readFile(FILES.stat);
      return undefined;
    } catch (err) {
      return `cannot read /proc/stat: ${errorMessage(err)}`;
    }
  },

  create(params: ProcParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    return createSampler(procCollector(params, ctx), options, ctx);
  },
};

/**
 * The stateful collect function of the `proc` tracer: it keeps the previous /proc/stat
 * reading, so the first call yields no `cpu` sample and every later one yields the usage
 * since the call before.
 */
export function procCollector(params: ProcParams, ctx: TracerContext): () => Promise<Sample[]> {
  let prevCpu: Map<string, CpuTimes> | undefined;
  const warned = new Set<string>();
  const devices = params.devices ? new Set(params.devices) : undefined;
  const interfaces = params.interfaces ? new Set(params.interfaces) : undefined;

  const optional = async <T>(path: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      // Containers and hardened hosts hide some of these files; report the rest rather than nothing.
      if (!warned.has(path)) {
        warned.add(path);
        ctx.log.warn(`cannot read ${path}; its measurement is skipped`, { error: errorMessage(err) });
      }
      return undefined;
    }
  };

  return async () => {
    const [stat, meminfo, loadavg, uptime, diskstats, netdev, sysBlock] = await Promise.all([
      ctx.readFile(FILES.stat),
      optional(FILES.meminfo, () => ctx.readFile(FILES.meminfo)),
      optional(FILES.loadavg, () => ctx.readFile(FILES.loadavg)),
      optional(FILES.uptime, () => ctx.readFile(FILES.uptime)),
      optional(FILES.diskstats, () => ctx.readFile(FILES.diskstats)),
      optional(FILES.netdev, () => ctx.readFile(FILES.netdev)),
      // Only needed to tell whole disks from partitions; the naming rule stands in without it.
      devices ? undefined : ctx.readdir('/sys/block').catch(() => undefined),
    ]);
    const time = ctx.now();
    const samples: Sample[] = [];
    const add = (measurement: string, tags: Record<string, string>, fields: Sample['fields']) =>
      samples.push({ measurement, tags, fields, time });

    const cpu = parseCpuTimes(stat);
    if (prevCpu) {
      for (const [label, cur] of cpu) {
        if (label !== 'cpu' && !params.percpu) continue;
        const prev = prevCpu.get(label);
        const usage = prev && cpuUsage(prev, cur);
        if (usage) add('cpu', { cpu: label === 'cpu' ? 'cpu-total' : label }, usage);
      }
    }
    prevCpu = cpu;

    if (meminfo !== undefined) add('mem', {}, memFields(parseMeminfo(meminfo)));

    const system: Sample['fields'] = { n_cpus: BigInt(countCpus(cpu)) };
    if (loadavg !== undefined) {
      const l = parseLoadavg(loadavg);
      Object.assign(system, { load1: l.load1, load5: l.load5, load15: l.load15 });
    }
    if (uptime !== undefined) system.uptime = BigInt(Math.floor(parseUptime(uptime)));
    add('system', {}, system);

    if (diskstats !== undefined) {
      const disks = parseDiskstats(diskstats);
      const wholeDisks = sysBlock ? new Set(sysBlock) : undefined;
      const names = disks.map((d) => d.name);
      for (const d of disks) {
        const wanted = devices
          ? devices.has(d.name)
          : !isVirtualDisk(d.name) &&
            (wholeDisks ? wholeDisks.has(d.name) : !looksLikePartition(d.name, names));
        if (wanted) add('diskio', { name: d.name }, diskioFields(d));
      }
    }

    if (netdev !== undefined) {
      for (const n of parseNetDev(netdev)) {
        const wanted = interfaces ? interfaces.has(n.name) : n.name !== 'lo';
        if (wanted) add('net', { interface: n.name }, netFields(n));
      }
    }
    return samples;
  };
}
