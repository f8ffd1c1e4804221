// What the counters read of a finished request: the fields of pipeline/transaction.ts's Tx that
// observe/metrics.ts uses, declared here so observe/ does not import the pipeline (Tx → context →
// metrics → Tx was an import cycle). A Tx is a FinishedRequest as it stands.
import type { CacheStatus } from '../cache/cache-status.js';
import type { ProxyError } from '../errors.js';
import type { ClientResponse } from '../http/client-response.js';
import type { OriginResponse } from '../http/origin-response.js';
import type { ConditionalPlan } from '../policy/validators.js';
import type { ClientIdentity, ClientPolicy } from '../policy/types.js';
import type { Entry } from '../store/types.js';
import type { LogFields } from './log.js';

export interface FinishedRequest {
  readonly method: string;
  readonly clientRes: ClientResponse;
  readonly status: CacheStatus;
  readonly log: LogFields;
  readonly error?: ProxyError;
  readonly target?: URL;
  readonly client?: ClientIdentity;
  readonly policy?: ClientPolicy;
  readonly conditionals?: ConditionalPlan;
  readonly entry?: Entry;
  readonly originRes?: OriginResponse;
}
