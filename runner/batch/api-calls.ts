/**
 * Counts of AWS API calls per operation, for the run record and the bench. Every Batch and
 * CloudWatch Logs call of the layer goes through {@link ApiCallCounter.send}.
 */
export class ApiCallCounter {
  private readonly counts = new Map<string, number>();

  /** Send `command` with `client`, counting it under its operation name (`SubmitJob`). */
  async send<O>(client: { send(command: never): Promise<unknown> }, command: { constructor: { name: string } }): Promise<O> {
    this.count(command.constructor.name.replace(/Command$/, ''));
    return (await client.send(command as never)) as O;
  }

  /** Count one call made elsewhere (a page of an SDK paginator). */
  count(operation: string): void {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
  }

  /** Calls per operation, sorted by name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  get total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }
}

/** `AWS API calls: N (DescribeJobs 12, SubmitJob 3)`: the line printed when a run ends. */
export function apiCallsLine(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts);
  const total = entries.reduce((n, [, c]) => n + c, 0);
  return `AWS API calls: ${total} (${entries.map(([op, n]) => `${op} ${n}`).join(', ') || 'none'})`;
}
