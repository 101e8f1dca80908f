/**
 * The client's address behind a reverse proxy (`mqtt.ws_trusted_proxies`). A proxy in front of
 * the WebSocket listener (nginx, HAProxy, a load balancer) makes every browser connect from the
 * proxy's address, so the per-address login budget put all of a site's dashboards in one queue
 * (30 logins at once: 21 refused). A proxy the operator names is trusted to say who its client
 * was, in `X-Forwarded-For` as nginx's `$proxy_add_x_forwarded_for` and HAProxy's `option
 * forwardfor` write it: the rightmost entry is the address the proxy itself saw (entries to its
 * left come from the client and prove nothing). Any other peer's header is ignored.
 */
import { isIP } from 'node:net';
import { plainIp } from '../protocol/ip-address.js';

/**
 * The address `peerIp`'s proxy reports for its client, or undefined: the peer is not a trusted
 * proxy, or sent no usable header (then the peer's own address stands).
 */
export function forwardedClientIp(peerIp: string | undefined, header: string | string[] | undefined, trusted: ReadonlySet<string>): string | undefined {
  if (peerIp === undefined || header === undefined || !trusted.has(plainIp(peerIp))) return undefined;
  const joined = typeof header === 'string' ? header : header.join(',');
  const last = joined.slice(joined.lastIndexOf(',') + 1).trim();
  return isIP(last) === 0 ? undefined : plainIp(last);
}
