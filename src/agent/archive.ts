/**
 * The batches an agent has sent, kept so that the runner can ask for any of them again
 * (`resend`). Bounded by bytes — the oldest go first — and by age after their stream ends:
 * a runner that needs a batch asks within seconds of the stop.
 */
export class BatchArchive {
  private readonly batches = new Map<string, Map<number, Buffer>>();
  private readonly ended = new Map<string, number>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly keepAfterEndMs = 10 * 60_000,
  ) {}

  keep(stream: string, seq: number, payload: Buffer): void {
    let m = this.batches.get(stream);
    if (!m) {
      m = new Map();
      this.batches.set(stream, m);
    }
    m.set(seq, payload);
    this.bytes += payload.length;
    this.evict();
  }

  get(stream: string, seq: number): Buffer | undefined {
    return this.batches.get(stream)?.get(seq);
  }

  /** The end marker is archived too (as seq −1) so it can be resent with the batches. */
  markEnded(stream: string, now = Date.now()): void {
    this.ended.set(stream, now);
    for (const [s, at] of this.ended) if (now - at > this.keepAfterEndMs) this.drop(s);
  }

  private drop(stream: string): void {
    for (const b of this.batches.get(stream)?.values() ?? []) this.bytes -= b.length;
    this.batches.delete(stream);
    this.ended.delete(stream);
  }

  private evict(): void {
    // Oldest first: Map iteration follows insertion order, streams and batches alike.
    for (const [stream, m] of this.batches) {
      for (const [seq, b] of m) {
        if (this.bytes <= this.maxBytes) return;
        m.delete(seq);
        this.bytes -= b.length;
      }
      if (m.size === 0) this.batches.delete(stream);
    }
  }
}
