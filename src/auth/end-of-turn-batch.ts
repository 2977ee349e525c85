/**
 * Jobs run together once the event loop has read every request that was ready (setImmediate
 * runs after the poll phase), in the order they came.
 *
 * The auth hook defers cold verifications (a signature to check) here. Checked one by one as
 * each request is read, every response goes out alone, a signature check after the last, and
 * the client, asleep by then, must be woken for each: the kernel time of a send tripled. Checked
 * together, the responses leave back to back and one wake-up serves them all. Under the
 * benchmark's S3 (every request a new token) this cut CPU per request from 87 to 71 µs and
 * raised req/s by a fifth, with lower p50 and p99 latency. Tokens already verified (or refused)
 * are answered at once, never deferred.
 */
export class EndOfTurnBatch {
  #jobs: Array<() => void> = []

  /** `job` must not throw: it reports its own failures (a job that throws stops the batch). */
  add (job: () => void): void {
    this.#jobs.push(job)
    if (this.#jobs.length === 1) setImmediate(this.#run)
  }

  readonly #run = (): void => {
    const jobs = this.#jobs
    this.#jobs = []
    for (const job of jobs) job()
  }
}
