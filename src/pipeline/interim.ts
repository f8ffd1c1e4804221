// Interim responses (RFC 9110 §15.2): 100, 102 and 103 from the origin go to the client before
// the final response, when it speaks HTTP/1.1; they are never stored, and their fields never
// join the final response's (node keeps them apart: the 'information' event). At most
// MAX_INTERIM_RELAYED per request: an origin sending thousands would have them all passed on.
import { endToEnd } from '../http/hop-by-hop.js';
import type { InterimResponse } from '../http/origin-response.js';
import { redactUrl } from '../observe/redact.js';
import type { Tx } from './transaction.js';

/**
 * The 1xx relayed per request; later ones are dropped (one log line per request). The RFC sets no
 * bound; clients act on few (one 100; browsers on the first 103 only). A server that sends 102
 * periodically through a long operation stops reaching the client after the tenth; the final
 * response is not affected.
 */
export const MAX_INTERIM_RELAYED = 10;

/** A relay for `OriginRequest.onInterim`, or undefined when the client cannot take 1xx. */
export function interimRelay(tx: Tx): ((interim: InterimResponse) => void) | undefined {
  const { clientReq, clientRes } = tx;
  // RFC 9110 §15.2: a proxy must not send 1xx to an HTTP/1.0 client; a background transaction has none.
  if (tx.background || clientReq.httpVersionMajor !== 1 || clientReq.httpVersionMinor === 0) return undefined;
  let relayed = 0;
  let dropped = 0;
  return (interim) => {
    if (clientRes.headersSent) return;
    if (relayed >= MAX_INTERIM_RELAYED) {
      if (dropped++ === 0) tx.ctx.logger.warn('interim responses dropped past the bound', { url: redactUrl(tx.target!.href), bound: MAX_INTERIM_RELAYED });
      tx.log.interimDropped = dropped;
      return;
    }
    relayed++;
    tx.log.interim = tx.log.interim ? `${tx.log.interim},${interim.statusCode}` : String(interim.statusCode);
    if (interim.statusCode === 100) clientRes.writeContinue();
    else if (interim.statusCode === 102) clientRes.writeProcessing();
    else if (interim.statusCode === 103) {
      const fields = endToEnd(interim.headers);
      if (fields['link'] === undefined) return;
      try {
        clientRes.writeEarlyHints(fields);
      } catch {
        // node validates Link strictly; hints are an optimisation, so a malformed one is dropped.
      }
    }
  };
}
