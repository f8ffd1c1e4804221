// The shape of an admin route, its request and its reply: shared by the server (admin-server.ts)
// and the route tables (*-routes.ts, status-page.ts), in a module of its own so neither imports the other's types.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type AdminMethod = 'GET' | 'PUT' | 'DELETE';

export interface AdminRequest {
  /** Path segments captured by the route's pattern, percent-decoded. */
  params: string[];
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body; ProxyError(400) when it is not JSON. */
  json(): Promise<unknown>;
}

export interface AdminReply {
  status: number;
  body: unknown;
  /** Send `body` (a string) as is with this Content-Type instead of as JSON (/metrics). */
  contentType?: string;
  /** A long-lived answer (Server-Sent Events): it writes the response itself, after the checks. */
  stream?: (clientRes: ServerResponse) => void;
  /** Extra response fields (the status page's Content-Security-Policy, a redirect's Location). */
  headers?: Record<string, string>;
}

export interface AdminRoute {
  /** Matched against the raw (still encoded) path; capture groups become `params`. */
  pattern: RegExp;
  methods: Partial<Record<AdminMethod, (req: AdminRequest) => Promise<AdminReply>>>;
}
