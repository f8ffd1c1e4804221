// The two ways a request can end badly, classified once (see pipeline/run.ts):
// ProxyError is answered with a status and a short text body; AbortTransfer resets the
// client's connection (the response already started, so a status can no longer be sent).

export class ProxyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response fields, e.g. Proxy-Authenticate on a 407. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ProxyError';
  }
}

export class AbortTransfer extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AbortTransfer';
  }
}

/** A store call failed or ran past its deadline. Callers treat it as a miss. */
export class StoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailable';
  }
}

/** Bad configuration: the message names the key path, what was expected and what arrived. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
