// One queue per proxy for changes to the fleet's rule document (policies and URL rules share
// it): changes run one at a time, so two admin requests never both build on the same document.
const queues = new WeakMap<object, Promise<unknown>>();

export function serialised<T>(owner: object, run: () => Promise<T>): Promise<T> {
  const next = (queues.get(owner) ?? Promise.resolve()).then(run);
  queues.set(owner, next.catch(() => {}));
  return next;
}
