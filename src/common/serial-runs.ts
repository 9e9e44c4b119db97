/**
 * Runs of a background job (a fold, a sweep), one at a time in this process. A timer's `tick` joins a run under way:
 * what that run misses, the next tick takes. `now` answers a run that starts after the call, so that it sees what the
 * caller committed before it: a run under way may have read its rows first, so the call waits for it and then runs
 * `job`, a run which the calls that come meanwhile share (with the first one's `job`).
 */
export class SerialRuns<T> {
  private running?: Promise<T>;
  private queued?: Promise<T>;

  tick(job: () => Promise<T>): Promise<T> {
    return this.running ?? this.start(job);
  }

  now(job: () => Promise<T>): Promise<T> {
    if (!this.running) return this.start(job);
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        // a run started in between began after the call: it is the one more
        return this.running ?? this.start(job);
      });
    return this.queued;
  }

  /** Settles once the run under way, and the one queued after it, have ended. */
  async idle(): Promise<void> {
    await (this.queued ?? this.running)?.catch(() => undefined);
  }

  private start(job: () => Promise<T>): Promise<T> {
    this.running = job().finally(() => (this.running = undefined));
    return this.running;
  }
}
