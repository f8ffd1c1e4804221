// The store URLs the Redis backend accepts, checked without loading a Redis client: config
// validation (config/schema.ts parseStore) and connect.ts read the same rules.

export interface ClusterSeeds {
  tls: boolean;
  username?: string;
  password?: string;
  nodes: Array<{ host: string; port: number }>;
}

/** `redis+cluster://[user:pass@]h1:p1,h2:p2` → the seed nodes; undefined for any other URL. */
export function parseClusterUrl(url: string): ClusterSeeds | undefined {
  const match = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/i.exec(url);
  if (!match) return undefined;
  const [, scheme = '', userinfo, hostList = ''] = match;
  const nodes = hostList.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':');
    const host = (at > 0 ? hostPort.slice(0, at) : hostPort).replace(/^\[|\]$/g, '');
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`redis cluster url: expected host:port in the seed list, got "${hostPort}"`);
    }
    return { host, port };
  });
  // Same reading as node-redis gives `redis://user:pass@host`: a username, a password, or both.
  const colon = userinfo?.indexOf(':') ?? -1;
  const username = userinfo ? decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo) : '';
  const password = userinfo && colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) : '';
  return {
    tls: scheme.toLowerCase() === 'rediss',
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    nodes,
  };
}


/**
 * Why `url` (redis:// or rediss://) is not one node-redis can connect to, or undefined when it
 * is: a host, a port from 1 to 65535, a database number.
 */
export function singleUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'a URL such as redis://host:6379/0 (the port a number from 1 to 65535)';
  }
  if (!parsed.hostname) return 'a host name after //';
  if (parsed.port !== '' && Number(parsed.port) === 0) return 'a port from 1 to 65535';
  if (!/^(\/\d*)?$/.test(parsed.pathname)) return 'a database number after the port (/0, /1, …)';
  return undefined;
}
