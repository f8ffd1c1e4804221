// The request fields that make a GET conditional or partial (RFC 9110 §13.1, §14.2): read
// from the client in one place. Which path sends them upstream, and how, is the table's
// (http/upstream-fields.ts): as planned here on a miss or pass, never on a revalidation.
import type { IncomingMessage } from 'node:http';
import type { ClientConditionals, ConditionalPlan } from './validators.js';

const NONE: ClientConditionals = Object.freeze({});

export function clientConditionals(clientReq: IncomingMessage): ClientConditionals {
  const h = clientReq.headers;
  // Most requests send none of them: nothing to build.
  if (h['if-none-match'] === undefined && h['if-modified-since'] === undefined && h['range'] === undefined && h['if-range'] === undefined) return NONE;
  const out: ClientConditionals = {};
  if (h['if-none-match'] !== undefined) out.ifNoneMatch = h['if-none-match'];
  if (h['if-modified-since'] !== undefined) out.ifModifiedSince = h['if-modified-since'];
  if (h['range'] !== undefined) out.range = h['range'];
  const ifRange = h['if-range'];
  if (typeof ifRange === 'string') out.ifRange = ifRange;
  return out;
}

/** The client's conditional fields the plan lets reach the origin (all of them are removed first). */
const NO_FIELDS: Readonly<Record<string, string>> = Object.freeze({});

export function forwardedConditionalFields(plan: ConditionalPlan | undefined): Readonly<Record<string, string>> {
  const forwarded = plan?.forwardWhenNoEntry;
  // The usual request: nothing conditional to forward, and no object made for it.
  if (!forwarded?.ifNoneMatch && !forwarded?.ifModifiedSince && !plan?.range) return NO_FIELDS;
  const fields: Record<string, string> = {};
  if (forwarded?.ifNoneMatch) fields['if-none-match'] = forwarded.ifNoneMatch;
  if (forwarded?.ifModifiedSince) fields['if-modified-since'] = forwarded.ifModifiedSince;
  if (plan?.range) {
    fields['range'] = plan.range.range;
    if (plan.range.ifRange) fields['if-range'] = plan.range.ifRange;
  }
  return fields;
}
