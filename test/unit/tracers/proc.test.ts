import { Ajv } from 'ajv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { procCollector, procTracer } from '../../../src/tracers/proc/index.js';
import {
  cpuUsage,
  diskioFields,
  looksLikePartition,
  memFields,
  parseCpuTimes,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseUptime,
} from '../../../src/tracers/proc/parse.js';
import { createSampler } from '../../../src/tracers/sampler.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const KB = 1024n;
const T0_NS = 1795563807274269162n;
const T1_NS = 1795563808369993805n;

function only(samples: Sample[], measurement: string, tags: Record<string, string> = {}): Sample {
  const found = samples.filter(
    (s) => s.measurement === measurement && Object.entries(tags).every(([k, v]) => s.tags[k] === v),
  );
  expect(found, `${measurement} ${JSON.stringify(tags)}`).toHaveLength(1);
  return found[0];
}

describe('proc parsers', () => {
  it('reads the cpu lines of /proc/stat, missing columns as 0', () => {
    const cpu = parseCpuTimes('cpu  10 1 20 300 4 0 5 0 0 0\ncpu0 5 1 10 150 2 0 3\nintr 1 2 3\nctxt 9\n');
    expect([...cpu.keys()]).toEqual(['cpu', 'cpu0']);
    expect(cpu.get('cpu')).toEqual({
      user: 10,
      nice: 1,
      system: 20,
      idle: 300,
      iowait: 4,
      irq: 0,
      softirq: 5,
      steal: 0,
      guest: 0,
      guest_nice: 0,
    });
    expect(cpu.get('cpu0')?.steal).toBe(0);
  });

  it('computes usage as Telegraf does: guest inside user, active = all but idle', () => {
    const prev = parseCpuTimes('cpu 100 10 50 800 20 5 5 10 30 4').get('cpu')!;
    const cur = parseCpuTimes('cpu 160 20 70 900 30 5 5 10 50 8').get('cpu')!;
    // deltas: user 60 (guest 20), nice 10 (guest_nice 4), system 20, idle 100, iowait 10: total 200.
    expect(cpuUsage(prev, cur)).toEqual({
      usage_user: 20,
      usage_system: 10,
      usage_idle: 50,
      usage_nice: 3,
      usage_iowait: 5,
      usage_irq: 0,
      usage_softirq: 0,
      usage_steal: 0,
      usage_guest: 10,
      usage_guest_nice: 2,
      usage_active: 50,
    });
  });

  it('counts a column that went backwards as 0 and skips an interval without ticks', () => {
    const prev = parseCpuTimes('cpu 100 0 100 100 50 0 0 0 0 0').get('cpu')!;
    const cur = parseCpuTimes('cpu 150 0 150 200 40 0 0 0 0 0').get('cpu')!;
    const usage = cpuUsage(prev, cur)!;
    expect(usage.usage_iowait).toBe(0);
    expect(usage.usage_user + usage.usage_system + usage.usage_idle).toBe(100);
    expect(cpuUsage(prev, prev)).toBeUndefined();
  });

  it('turns /proc/meminfo into bytes and Telegraf mem fields', () => {
    const info = parseMeminfo(
      'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\nSReclaimable: 50 kB\nHugePages_Total: 3\n',
    );
    expect(info.get('HugePages_Total')).toBe(3n);
    const f = memFields(info);
    expect(f.total).toBe(1000n * KB);
    expect(f.cached).toBe(250n * KB);
    expect(f.buffered).toBe(50n * KB);
    expect(f.used).toBe(600n * KB);
    // No MemAvailable (kernels before 3.14): free + buffers + cached.
    expect(f.available).toBe(400n * KB);
    expect(f.used_percent).toBe(60);
    expect(f.available_percent).toBe(40);
    expect(f.huge_pages_total).toBe(3n);
  });

  it('reads loadavg and uptime', () => {
    expect(parseLoadavg('0.16 0.42 0.31 2/139 8450\n')).toEqual({
      load1: 0.16,
      load5: 0.42,
      load15: 0.31,
      running: 2,
      total: 139,
    });
    expect(parseUptime('678.50 1093.23\n')).toBe(678.5);
  });

  it('reads diskstats into Telegraf diskio fields (512-byte sectors)', () => {
    const [d] = parseDiskstats(
      ' 254  0 vda 42598 8433 1950418 15666 28289 28321 2603680 15509 0 10728 34457 9741 17\n',
    );
    expect(d.name).toBe('vda');
    expect(diskioFields(d)).toEqual({
      reads: 42598n,
      writes: 28289n,
      read_bytes: 1950418n * 512n,
      write_bytes: 2603680n * 512n,
      read_time: 15666n,
      write_time: 15509n,
      io_time: 10728n,
      weighted_io_time: 34457n,
      iops_in_progress: 0n,
      merged_reads: 8433n,
      merged_writes: 28321n,
    });
  });

  it('tells partitions by the kernel naming rule', () => {
    const names = [
      'sda',
      'sda1',
      'nvme0n1',
      'nvme0n1p2',
      'dm-1',
      'dm-10',
      'mmcblk0',
      'mmcblk0p1',
      'md1',
      'md12',
    ];
    const partitions = names.filter((n) => looksLikePartition(n, names));
    expect(partitions).toEqual(['sda1', 'nvme0n1p2', 'mmcblk0p1']);
  });

  it('reads /proc/net/dev, skipping its two header lines', () => {
    const text =
      'Inter-|   Receive                                                |  Transmit\n' +
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n' +
      '  eth0: 288663954   10570    1    2    0     0          0         0   796774    6313    3    4    0     0       0          0\n';
    expect(parseNetDev(text)).toEqual([
      {
        name: 'eth0',
        bytesRecv: 288663954n,
        packetsRecv: 10570n,
        errIn: 1n,
        dropIn: 2n,
        bytesSent: 796774n,
        packetsSent: 6313n,
        errOut: 3n,
        dropOut: 4n,
      },
    ]);
  });
});

describe('proc collector on recorded /proc snapshots', () => {
  it('has no cpu sample on the first reading, then the usage between the two readings', async () => {
    const ctx = fixtureContext('t0');
    const collect = procCollector({}, ctx);
    const first = await collect();
    expect(first.filter((s) => s.measurement === 'cpu')).toEqual([]);
    expect(first.every((s) => s.time === T0_NS)).toBe(true);

    ctx.use('t1');
    const second = await collect();
    const cpu = only(second, 'cpu', { cpu: 'cpu-total' });
    expect(cpu.time).toBe(T1_NS);
    // t0 → t1: user +111, system +6, idle +98, iowait +4, softirq +2 = 221 ticks.
    expect(cpu.fields.usage_user).toBeCloseTo((100 * 111) / 221, 12);
    expect(cpu.fields.usage_system).toBeCloseTo((100 * 6) / 221, 12);
    expect(cpu.fields.usage_idle).toBeCloseTo((100 * 98) / 221, 12);
    expect(cpu.fields.usage_iowait).toBeCloseTo((100 * 4) / 221, 12);
    expect(cpu.fields.usage_softirq).toBeCloseTo((100 * 2) / 221, 12);
    expect(cpu.fields.usage_active).toBeCloseTo((100 * 123) / 221, 12);
    expect(cpu.fields.usage_steal).toBe(0);
    expect(second.filter((s) => s.measurement === 'cpu')).toHaveLength(1);
  });

  it('adds per-CPU series when percpu is set', async () => {
    const ctx = fixtureContext('t0');
    const collect = procCollector({ percpu: true }, ctx);
    await collect();
    ctx.use('t1');
    const samples = await collect();
    expect(samples.filter((s) => s.measurement === 'cpu').map((s) => s.tags.cpu)).toEqual([
      'cpu-total',
      'cpu0',
      'cpu1',
    ]);
    // cpu1 ran the busy loop: user +109, softirq +1.
    const cpu1 = only(samples, 'cpu', { cpu: 'cpu1' });
    expect(cpu1.fields.usage_user).toBeCloseTo((100 * 109) / 110, 12);
    expect(cpu1.fields.usage_active).toBe(100);
  });

  it('writes mem and system from meminfo, loadavg, uptime and the CPU count', async () => {
    const samples = await procCollector({}, fixtureContext('t0'))();
    const mem = only(samples, 'mem');
    expect(mem.tags).toEqual({});
    expect(mem.fields.total).toBe(24683620n * KB);
    expect(mem.fields.free).toBe(24035896n * KB);
    expect(mem.fields.available).toBe(24113300n * KB);
    expect(mem.fields.buffered).toBe(3852n * KB);
    expect(mem.fields.cached).toBe((294532n + 112560n) * KB);
    expect(mem.fields.used).toBe(236780n * KB);
    expect(mem.fields.used_percent).toBeCloseTo((100 * 236780) / 24683620, 12);
    expect(mem.fields.swap_total).toBe(0n);
    expect(only(samples, 'system').fields).toEqual({
      n_cpus: 2n,
      load1: 0.16,
      load5: 0.42,
      load15: 0.31,
      uptime: 678n,
    });
  });

  it('reports whole disks but loop devices and partitions, cumulative', async () => {
    const ctx = fixtureContext('t0');
    const collect = procCollector({}, ctx);
    const t0 = await collect();
    expect(t0.filter((s) => s.measurement === 'diskio').map((s) => s.tags.name)).toEqual(['vda', 'zram0']);
    ctx.use('t1');
    const vda = only(await collect(), 'diskio', { name: 'vda' });
    // The 50 MiB direct write between t0 and t1 shows in the cumulative counter.
    expect(vda.fields.write_bytes).toBe(2706080n * 512n);
    expect((vda.fields.write_bytes as bigint) - 2603680n * 512n).toBe(50n * 1024n * 1024n);
  });

  it('reports exactly the listed devices, partitions and loops included', async () => {
    const samples = await procCollector({ devices: ['vda1', 'loop0', 'sdz'] }, fixtureContext('t0'))();
    expect(samples.filter((s) => s.measurement === 'diskio').map((s) => s.tags.name)).toEqual([
      'loop0',
      'vda1',
    ]);
    expect(only(samples, 'diskio', { name: 'vda1' }).fields.read_bytes).toBe(800n * 512n);
  });

  it('falls back to the naming rule when /sys/block is unreadable', async () => {
    const ctx = fixtureContext('t0');
    const noSys: TracerContext = {
      ...ctx,
      readdir: (p) => (p === '/sys/block' ? Promise.reject(new Error('EACCES')) : ctx.readdir(p)),
    };
    const samples = await procCollector({}, noSys)();
    expect(samples.filter((s) => s.measurement === 'diskio').map((s) => s.tags.name)).toEqual([
      'vda',
      'zram0',
    ]);
  });

  it('reports every interface but lo by default, or the listed ones', async () => {
    const all = await procCollector({}, fixtureContext('t0'))();
    expect(all.filter((s) => s.measurement === 'net').map((s) => s.tags.interface)).toEqual([
      'ifb0',
      'ifb1',
      'eth0',
    ]);
    expect(only(all, 'net', { interface: 'eth0' }).fields).toEqual({
      bytes_sent: 796774n,
      bytes_recv: 288663954n,
      packets_sent: 6313n,
      packets_recv: 10570n,
      err_in: 0n,
      err_out: 0n,
      drop_in: 0n,
      drop_out: 0n,
    });
    const listed = await procCollector({ interfaces: ['lo', 'eth0'] }, fixtureContext('t0'))();
    expect(listed.filter((s) => s.measurement === 'net').map((s) => s.tags.interface)).toEqual([
      'lo',
      'eth0',
    ]);
  });

  it('skips a measurement whose file is unreadable, with one warning, but needs /proc/stat', async () => {
    const ctx = fixtureContext('t0');
    const noMem: TracerContext = {
      ...ctx,
      readFile: (p) => (p === '/proc/meminfo' ? Promise.reject(new Error('EACCES')) : ctx.readFile(p)),
    };
    const collect = procCollector({}, noMem);
    const samples = [...(await collect()), ...(await collect())];
    expect(samples.some((s) => s.measurement === 'mem')).toBe(false);
    expect(samples.some((s) => s.measurement === 'system')).toBe(true);
    expect(ctx.logged.filter((l) => l.level === 'warn')).toHaveLength(1);

    const noStat: TracerContext = {
      ...ctx,
      readFile: (p) => (p === '/proc/stat' ? Promise.reject(new Error('ENOENT')) : ctx.readFile(p)),
    };
    await expect(procCollector({}, noStat)()).rejects.toThrow('ENOENT');
  });

  it('writes only what the manifest declares, with the declared types', async () => {
    const ctx = fixtureContext('t0');
    const collect = procCollector(
      { percpu: true, devices: ['vda', 'vda1'], interfaces: ['eth0', 'lo'] },
      ctx,
    );
    const samples = await collect();
    ctx.use('t1');
    samples.push(...(await collect()));
    expect(manifestMismatches(samples, procTracer.manifest)).toEqual([]);
    const written = new Set(samples.map((s) => s.measurement));
    expect(procTracer.manifest.measurements.map((m) => m.name).filter((m) => !written.has(m))).toEqual([]);
  });
});

describe('procTracer', () => {
  it('has a manifest whose params schema compiles strictly and accepts its example', () => {
    const m = procTracer.manifest;
    expect(m.name).toBe('proc');
    const validate = new Ajv({ strict: true, allErrors: true }).compile(m.params);
    expect(validate(m.example.with ?? {}), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ percpu: true, devices: ['sda'], interfaces: ['eth0'] })).toBe(true);
    expect(validate({ percpu: 'yes' })).toBe(false);
    expect(validate({ device: ['sda'] })).toBe(false);
    expect(m.example.use).toBe('proc');
  });

  it('is available when /proc/stat is readable, and says why not otherwise', async () => {
    const ctx = fixtureContext('t0');
    expect(await procTracer.unavailableReason(ctx)).toBeUndefined();
    const broken: TracerContext = {
      ...ctx,
      readFile: () => Promise.reject(new Error('ENOENT: no such file')),
    };
    expect(await procTracer.unavailableReason(broken)).toMatch(/cannot read \/proc\/stat: ENOENT/);
  });

  it('runs as a tracer instance: start emits the first reading, stop a final one', async () => {
    const ctx = fixtureContext('t0');
    const instance = procTracer.create({}, { intervalMs: 60_000 }, ctx);
    const emitted: Sample[][] = [];
    await instance.start((s) => emitted.push(s));
    expect(emitted).toHaveLength(1);
    ctx.use('t1');
    await instance.stop();
    expect(emitted).toHaveLength(2);
    expect(only(emitted[1], 'cpu').fields.usage_user).toBeCloseTo((100 * 111) / 221, 12);
  });
});

describe('createSampler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const silentCtx = () => fixtureContext('t0');
  const sample = (n: number): Sample => ({ measurement: 'm', tags: {}, fields: { n }, time: BigInt(n) });

  it('samples at start, on every interval, and once more at stop', async () => {
    vi.useFakeTimers();
    let n = 0;
    const emitted: number[] = [];
    const s = createSampler(async () => [sample(n++)], { intervalMs: 1000 }, silentCtx());
    await s.start((batch) => emitted.push(...batch.map((b) => b.fields.n as number)));
    expect(emitted).toEqual([0]);
    await vi.advanceTimersByTimeAsync(3500);
    expect(emitted).toEqual([0, 1, 2, 3]);
    await s.stop();
    expect(emitted).toEqual([0, 1, 2, 3, 4]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(emitted).toHaveLength(5);
    // A second stop() is the same stop.
    await s.stop();
    expect(emitted).toHaveLength(5);
  });

  it('never overlaps ticks, and stop waits for the running one', async () => {
    vi.useFakeTimers();
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const order: string[] = [];
    const s = createSampler(
      async () => {
        const call = calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 250));
        active--;
        order.push(`done ${call}`);
        return [];
      },
      { intervalMs: 100 },
      silentCtx(),
    );
    const starting = s.start(() => {});
    await vi.advanceTimersByTimeAsync(250);
    await starting;
    await vi.advanceTimersByTimeAsync(1000);
    expect(maxActive).toBe(1);
    const stopping = s.stop();
    await vi.advanceTimersByTimeAsync(1000);
    await stopping;
    expect(maxActive).toBe(1);
    // The final reading comes after the tick that was running when stop() was called.
    expect(order.at(-1)).toBe(`done ${calls - 1}`);
    expect(order).toHaveLength(calls);
  });

  it('logs a failing tick once as a warning and keeps sampling', async () => {
    vi.useFakeTimers();
    const ctx = silentCtx();
    let n = 0;
    const s = createSampler(
      async () => {
        n++;
        if (n === 2 || n === 3) throw new Error('boom');
        return [sample(n)];
      },
      { intervalMs: 1000 },
      ctx,
    );
    const emitted: Sample[] = [];
    await s.start((b) => emitted.push(...b));
    await vi.advanceTimersByTimeAsync(3000);
    await s.stop();
    expect(emitted.map((e) => e.fields.n)).toEqual([1, 4, 5]);
    expect(ctx.logged.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(ctx.logged.find((l) => l.level === 'warn')?.fields?.error).toBe('boom');
  });

  it('rejects start when the first reading fails, and then stops without reading', async () => {
    let calls = 0;
    const s = createSampler(
      async () => {
        calls++;
        throw new Error('no /proc');
      },
      { intervalMs: 1000 },
      silentCtx(),
    );
    await expect(s.start(() => {})).rejects.toThrow('no /proc');
    await s.stop();
    expect(calls).toBe(1);
  });

  it('stops cleanly when never started', async () => {
    const s = createSampler(async () => [sample(1)], { intervalMs: 1000 }, silentCtx());
    await expect(s.stop()).resolves.toBeUndefined();
  });
});
