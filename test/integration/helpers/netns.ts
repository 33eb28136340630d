import { execFileSync } from 'node:child_process';

/**
 * A test host: a network namespace joined to the root namespace by a veth pair, with its
 * own address. The root side's address is where a private broker listens, since the
 * shared Mosquitto listens on loopback only and a namespace cannot reach that.
 */
export interface TestHost {
  ns: string;
  /** The address inside the namespace. */
  address: string;
  /** The root namespace's end of the pair. */
  gateway: string;
  /** Prefix for a command run inside the namespace. */
  exec: string[];
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  const probe = `sc-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `ip netns add failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
}

/** Creates host number `n` (1..250) on 10.231.<n>.0/30; unique names per test process. */
export function createTestHost(n: number): TestHost {
  const tag = `${process.pid % 10000}${n}`;
  const ns = `sc-ns${tag}`;
  const outer = `sc-o${tag}`;
  const inner = `sc-i${tag}`;
  const gateway = `10.231.${n}.1`;
  const address = `10.231.${n}.2`;
  ip('netns', 'add', ns);
  try {
    ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    ip('link', 'set', inner, 'netns', ns);
    ip('addr', 'add', `${gateway}/30`, 'dev', outer);
    ip('link', 'set', outer, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/30`, 'dev', inner);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    ip('netns', 'del', ns);
    throw err;
  }
  return {
    ns,
    address,
    gateway,
    exec: ['ip', 'netns', 'exec', ns],
    remove() {
      try {
        ip('link', 'del', outer);
      } catch {
        // Deleting the namespace removes the pair too.
      }
      ip('netns', 'del', ns);
    },
  };
}
