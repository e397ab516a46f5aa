/**
 * A guard for tests that must never send a packet to a private-range address (10/8,
 * 172.16/12, 192.168/16, IPv6 fc00::/7: kwok's fake pod IPs are 10.0.x.x). While it is on, every
 * TCP connection this process opens (net, tls, undici, the Kubernetes client, fetch) is checked
 * before it is made: one to such an address, given as an IP or resolved from a name, is not made
 * (the socket fails with EPRIVATENET) and is recorded, so a test can assert nothing tried.
 *
 * It sees this process only: a child process is checked by what the test knows of its targets.
 */
import dns from 'node:dns';
import net, { BlockList, isIP } from 'node:net';

const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');

/** Whether `address` (an IP, bracketed or not; IPv4-mapped IPv6 included) is in a private range. */
export function isPrivateAddress(address: string): boolean {
  const ip = address.replace(/^\[|\]$/g, '');
  const family = isIP(ip);
  return family !== 0 && PRIVATE.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

export interface NetworkGuard {
  /** `host:port` of every connection refused so far, oldest first. */
  attempts: string[];
  /** Puts net.Socket's connect back as it was. */
  restore(): void;
}

type Lookup = NonNullable<net.TcpSocketConnectOpts['lookup']>;
type LookupAddress = string | dns.LookupAddress[];

function refusal(host: string, port: unknown): Error {
  return Object.assign(
    new Error(`the test's network guard refused a connection to ${host}:${String(port)}`),
    { code: 'EPRIVATENET' },
  );
}

/**
 * Turns the guard on for this process until restore(). `blocked` decides which addresses are
 * refused (default: private ranges; a test of the guard itself passes a loopback address).
 */
export function guardNetwork(
  blocked: (address: string) => boolean = isPrivateAddress,
): NetworkGuard {
  const attempts: string[] = [];
  const original = net.Socket.prototype.connect;
  const guarded = function (this: net.Socket, ...args: unknown[]): net.Socket {
    // net.connect and tls.connect hand over [options, callback] (normalized); a direct call
    // may pass (options[, cb]) or (port[, host][, cb]).
    const first = args[0];
    const options = (
      Array.isArray(first)
        ? first[0]
        : typeof first === 'object' && first !== null
          ? first
          : { port: first, host: typeof args[1] === 'string' ? args[1] : undefined }
    ) as net.TcpSocketConnectOpts & { path?: string };
    const host = options.host ?? 'localhost';
    if (!options.path && isIP(host.replace(/^\[|\]$/g, '')) !== 0) {
      if (blocked(host)) {
        attempts.push(`${host}:${String(options.port)}`);
        process.nextTick(() => this.destroy(refusal(host, options.port)));
        return this;
      }
    } else if (!options.path && typeof first === 'object' && first !== null) {
      // A name: check what it resolves to before anything is sent there.
      const lookup: Lookup = options.lookup ?? (dns.lookup as unknown as Lookup);
      options.lookup = ((hostname: string, lookupOptions: dns.LookupOptions, callback) =>
        lookup(hostname, lookupOptions, (err, address: LookupAddress, family?: number) => {
          const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
          const bad = err ? undefined : addresses.find((a) => a && blocked(a));
          if (bad !== undefined) {
            attempts.push(`${hostname} (${bad}):${String(options.port)}`);
            callback(refusal(bad, options.port) as NodeJS.ErrnoException, '', 4);
            return;
          }
          (callback as (...a: unknown[]) => void)(err, address, family);
        })) as Lookup;
    }
    return original.apply(this, args as Parameters<typeof original>);
  };
  net.Socket.prototype.connect = guarded as typeof original;
  return {
    attempts,
    restore() {
      if (net.Socket.prototype.connect === guarded) net.Socket.prototype.connect = original;
    },
  };
}
