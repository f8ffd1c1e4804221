// Which way a request goes upstream: direct, or through which parent of which pool. The one
// entry point http/upstream.ts asks (STYLE.md: src/parents hands upstream.ts the route); it
// opens no connection itself. A pool with no parent up answers 502 naming the pool, never a
// silent direct fetch when `neverDirect` is set.
import { ProxyError } from '../errors.js';
import { DIRECT, type ParentsConfig } from './config.js';
import { ParentPool, type Parent } from './pool.js';

export type Route = { kind: 'direct' } | { kind: 'parent'; pool: ParentPool; parent: Parent };

const DIRECT_ROUTE: Route = { kind: 'direct' };

export class ParentRouter {
  readonly pools: ReadonlyMap<string, ParentPool>;

  constructor(
    readonly config: ParentsConfig,
    now: () => number,
  ) {
    this.pools = new Map(config.pools.map((spec) => [spec.name, new ParentPool(spec, now)]));
  }

  /** Whether any request can go through a parent. */
  get active(): boolean {
    return this.pools.size > 0;
  }

  /** The pool a request to `url` is routed to, or undefined for direct. */
  poolFor(_url: URL): ParentPool | undefined {
    const name = this.config.default;
    return name === DIRECT ? undefined : this.pools.get(name);
  }

  /** The route for one request; `avoid`: a parent that just failed it (retry elsewhere when possible). */
  route(url: URL, avoid?: Parent): Route {
    const pool = this.poolFor(url);
    if (!pool) return DIRECT_ROUTE;
    const parent = pool.pick(avoid);
    if (parent) return { kind: 'parent', pool, parent };
    if (!this.config.neverDirect) return DIRECT_ROUTE;
    throw new ProxyError(502, 'parent_pool_down', `no parent of pool "${pool.name}" is up (neverDirect: the request was not sent direct)`);
  }
}
