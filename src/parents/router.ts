// Which way a request goes upstream: direct, or through which parent of which pool. The one
// entry point http/upstream.ts and pipeline/pipe.ts ask (STYLE.md: src/parents hands upstream.ts
// the route); it opens no connection. Routing rules match the destination host (glob), the
// client identity (glob) and the URL (wildcard); the first that matches wins, else the default.
// A pool with no parent up goes direct only without `neverDirect`; with it, a 502 names the pool.
import { compileGlob, type GlobTest } from '../policy/glob.js';
import { ProxyError } from '../errors.js';
import { DIRECT, type ParentsConfig, type RouteSpec } from './config.js';
import { ParentPool, type Credentials, type Parent } from './pool.js';
import type { RouteKey } from './session.js';

export type Route =
  | { kind: 'direct' }
  | {
      kind: 'parent';
      pool: ParentPool;
      parent: Parent;
      /** Credentials for this request (template filled); never logged. */
      credentials: Credentials | undefined;
      /** Proxy-Authorization made of them. */
      authorization: string | undefined;
      key: RouteKey;
    };

const DIRECT_ROUTE: Route = { kind: 'direct' };

interface CompiledRoute {
  spec: RouteSpec;
  host?: GlobTest;
  client?: GlobTest;
  url?: GlobTest;
}

/** Why a request goes where it goes: the admin API's /parents/explain and `etag-proxy parents explain`. */
export interface RouteDecision {
  pool: string;
  /** `routes[2] (host *.shop.example)` or `default`. */
  because: string;
}

export class ParentRouter {
  readonly pools: ReadonlyMap<string, ParentPool>;
  private readonly routes: CompiledRoute[];
  private readonly byDefault: RouteDecision;

  constructor(
    readonly config: ParentsConfig,
    now: () => number,
  ) {
    this.pools = new Map(config.pools.map((spec) => [spec.name, new ParentPool(spec, now)]));
    this.routes = config.routes.map((spec) => ({
      spec,
      ...(spec.match.host !== undefined && { host: compileGlob(spec.match.host, 'name') }),
      ...(spec.match.client !== undefined && { client: compileGlob(spec.match.client, 'name') }),
      ...(spec.match.url !== undefined && { url: compileGlob(spec.match.url, 'wildcard') }),
    }));
    this.byDefault = Object.freeze({ pool: config.default, because: 'default' });
  }

  /** Whether any request can go through a parent. */
  get active(): boolean {
    return this.pools.size > 0;
  }

  /** The rule (or the default) that routes a request; pure. */
  decide(url: URL, client: string | undefined): RouteDecision {
    if (!this.routes.length) return this.byDefault;
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    for (let i = 0; i < this.routes.length; i++) {
      const route = this.routes[i]!;
      if (route.host && !route.host(host)) continue;
      if (route.client && (client === undefined || !route.client(client))) continue;
      if (route.url && !route.url(url.href)) continue;
      const tests = Object.entries(route.spec.match).map(([name, glob]) => `${name} ${glob}`);
      return { pool: route.spec.pool, because: `routes[${i}] (${tests.join(', ')})` };
    }
    return this.byDefault;
  }

  /** The route for one request; `avoid`: a parent that just failed it (another is taken when one is up). */
  route(url: URL, key: RouteKey = {}, avoid?: Parent): Route {
    const { pool: name } = this.decide(url, key.client);
    if (name === DIRECT) return DIRECT_ROUTE;
    const pool = this.pools.get(name)!;
    const parent = pool.pick(key, avoid);
    if (parent) {
      const { credentials, authorization } = pool.credentialsFor(parent, key);
      return { kind: 'parent', pool, parent, credentials, authorization, key };
    }
    if (!this.config.neverDirect) return DIRECT_ROUTE;
    throw new ProxyError(502, 'parent_pool_down', `no parent of pool "${pool.name}" is up (neverDirect: the request was not sent direct)`);
  }

  /** A parent failed (refused, timed out, 407, banned): it is skipped for its pool's cooldown. */
  failed(parent: Parent): void {
    this.pools.get(parent.pool)?.markDown(parent);
  }

  /** The admin API's answer: where a request would go and why, with the pool's parents as they are now. */
  explain(url: URL, key: RouteKey): Record<string, unknown> {
    const decision = this.decide(url, key.client);
    const pool = this.pools.get(decision.pool);
    const explained: Record<string, unknown> = { url: url.href, ...(key.client !== undefined && { client: key.client }), pool: decision.pool, because: decision.because, neverDirect: this.config.neverDirect };
    if (!pool) return explained;
    const sticky = pool.spec.selection === 'sticky';
    const parent = sticky ? pool.pick(key) : undefined;
    return {
      ...explained,
      selection: pool.spec.selection,
      ...(parent && { parent: parent.label }),
      parents: pool.parents.map((p) => p.label),
      up: pool.upCount(),
      ...(pool.upCount() === 0 && { then: this.config.neverDirect ? '502: no parent is up' : 'direct: no parent is up' }),
    };
  }
}
