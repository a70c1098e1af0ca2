/**
 * An async lookup done at most once per key (per run): concurrent callers share the pending
 * promise; a failure is forgotten so the next caller tries again.
 */
export class OncePerKey<V> {
  private readonly pending = new Map<string, Promise<V>>();

  get(key: string, load: () => Promise<V>): Promise<V> {
    let value = this.pending.get(key);
    if (!value) {
      value = load();
      value.catch(() => this.pending.delete(key));
      this.pending.set(key, value);
    }
    return value;
  }
}
