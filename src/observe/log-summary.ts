// One warning line per interval for events a client can cause by the thousand (4,000 intercepted
// names it hangs up on, idle connections closed to make room): the first is logged as it happens,
// with its own fields; the others of the interval are counted and one line at its end says how
// many, naming a few. A quiet interval ends the summary: the next event is logged at once again.
import type { LogFields, Logger } from './log.js';

const INTERVAL_MS = 10_000;
/** Distinct samples (host names, client addresses) a summary line names. */
const SAMPLES = 5;

export interface SummaryOptions {
  /** The message of the summary line. */
  message: string;
  /** The field naming the samples (`hosts`, `clients`). */
  samplesField: string;
  intervalMs?: number;
}

export class WarningSummary {
  private counted = 0;
  private samples: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly logger: Logger,
    private readonly options: SummaryOptions,
  ) {
    this.intervalMs = options.intervalMs ?? INTERVAL_MS;
  }

  /** An event: logged now (`message`, `fields`) when none was this interval, else counted under `sample`. */
  note(message: string, fields: LogFields, sample: string): void {
    if (this.timer === undefined) {
      this.logger.warn(message, fields);
      this.startInterval();
      return;
    }
    this.counted++;
    if (this.samples.length < SAMPLES && !this.samples.includes(sample)) this.samples.push(sample);
  }

  private startInterval(): void {
    this.timer = setTimeout(() => this.endInterval(), this.intervalMs);
    this.timer.unref();
  }

  private endInterval(): void {
    this.timer = undefined;
    if (this.counted === 0) return;
    this.logger.warn(this.options.message, { count: this.counted, intervalMs: this.intervalMs, [this.options.samplesField]: this.samples.join(',') });
    this.counted = 0;
    this.samples = [];
    // At most one line per interval while the events go on.
    this.startInterval();
  }
}
