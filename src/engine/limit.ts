// Bounded concurrency: a FIFO semaphore for requests in flight, and a mutex per key so that
// services sharing one counter are judged one after the other.

export class Semaphore {
  private waiting: (() => void)[] = [];
  private active = 0;
  private freeWaiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else {
        this.active--;
        for (const resolve of this.freeWaiters.splice(0)) resolve();
      }
    }
  }

  /** Slots nobody holds or waits for: how much more work can start at once without queueing. */
  free(): number {
    return this.waiting.length > 0 ? 0 : this.limit - this.active;
  }

  /** Resolves once a slot is free and nobody waits for one (at once if so already). */
  whenFree(): Promise<void> {
    if (this.free() > 0) return Promise.resolve();
    return new Promise((resolve) => this.freeWaiters.push(resolve));
  }
}

export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
