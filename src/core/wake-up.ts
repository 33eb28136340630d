/**
 * A condition to wait on: waiters re-check their predicate whenever `notify()` is called
 * (a status or batch arrived), and at least every `pollMs` as a safety net.
 */
export class WakeUp {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** Resolves true once `ready()` holds, or false when `timeoutMs` passes first. */
  async until(ready: () => boolean, timeoutMs: number, pollMs = 250): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, pollMs));
        this.waiters.add(wake);
      });
    }
    return true;
  }
}
