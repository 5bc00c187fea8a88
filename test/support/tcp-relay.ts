// A TCP relay on loopback between the product and a server, which a fault test can break in the
// two ways networks break:
//
// - stop(): the server is down or refuses: the listener closes and every relayed connection is
//   cut (the product sees the close at once). start() listens again.
// - blackHole(): the path goes dark without a word: nothing more is delivered in either direction
//   and nothing is closed — no RST, no FIN — as when a host dies or a firewall drops packets. New
//   connections are accepted and then hear nothing. forward() relays new connections again; the
//   ones that went dark stay dark, as a session to a dead host (an old writer's address after a
//   failover) never comes back.
//
// `trickle` makes the link slow instead: the server's bytes reach the product a few at a time,
// so that replies the server sent together arrive in separate reads, apart.
import { createServer, Socket, type Server } from 'node:net';
import { findFreePort } from './service-process.js';

export interface TcpRelay {
  port: number;
  stop(): void;
  start(): Promise<void>;
  blackHole(): void;
  forward(): void;
  /** Stops, and closes the dark connections too. */
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Cuts both sides; set until the pair goes dark. */
  cut: () => void;
}

export interface TcpRelayOptions {
  /** Where the relay listens (any loopback address: 127.0.0.2 reaches this machine too). */
  listenHost?: string;
  /** Passes the server's bytes on `bytes` at a time, one piece every `everyMs`. */
  trickle?: { bytes: number; everyMs: number };
}

export async function startTcpRelay(
  host: string,
  targetPort: number,
  { listenHost = '127.0.0.1', trickle }: TcpRelayOptions = {},
): Promise<TcpRelay> {
  const port = await findFreePort();
  const relayed = new Set<Pair>();
  const dark = new Set<Socket>();
  let server: Server | undefined;
  let blackHoled = false;

  function goDark(...sockets: Socket[]) {
    for (const socket of sockets) {
      socket.unpipe();
      socket.pause();
      // Whatever happens on one side is no longer passed to the other.
      socket
        .removeAllListeners('close')
        .removeAllListeners('error')
        .on('error', () => {});
      dark.add(socket);
    }
  }

  function relay(client: Socket) {
    if (blackHoled) return goDark(client);
    const upstream = new Socket();
    const pair: Pair = {
      client,
      upstream,
      cut: () => {
        client.destroy();
        upstream.destroy();
        relayed.delete(pair);
      },
    };
    relayed.add(pair);
    client.on('error', pair.cut).on('close', pair.cut);
    // A server that closes (after QUIT, say) closes the product's side once it has all the bytes.
    let upstreamClosed = pair.cut;
    upstream.on('error', pair.cut).on('close', () => upstreamClosed());
    upstream.connect(targetPort, host, () => {
      if (!relayed.has(pair)) return; // went dark (or was cut) while connecting
      client.pipe(upstream);
      if (trickle) {
        const afterLastByte = trickleTo(upstream, client, trickle, () => dark.has(client));
        upstreamClosed = () => afterLastByte(pair.cut);
      } else upstream.pipe(client);
    });
  }

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const listening = createServer(relay);
      listening.once('error', reject);
      listening.listen(port, listenHost, () => {
        server = listening;
        resolve();
      });
    });

  const stop = () => {
    server?.close();
    server = undefined;
    for (const pair of [...relayed]) pair.cut();
  };

  await start();
  return {
    port,
    stop,
    start,
    blackHole() {
      blackHoled = true;
      for (const pair of [...relayed]) {
        relayed.delete(pair);
        goDark(pair.client, pair.upstream);
      }
    },
    forward() {
      blackHoled = false;
    },
    async close() {
      stop();
      for (const socket of dark) socket.destroy();
      dark.clear();
    },
  };
}

/** Passes `from`'s bytes on to `to` slowly; the function returned runs `then` after the last one. */
function trickleTo(
  from: Socket,
  to: Socket,
  { bytes, everyMs }: { bytes: number; everyMs: number },
  dark: () => boolean,
): (then: () => void) => void {
  let pending = Buffer.alloc(0);
  let afterLast: (() => void) | undefined;
  to.setNoDelay(true); // each piece its own segment: Nagle would batch them again
  from.on('data', (chunk: Buffer) => (pending = Buffer.concat([pending, chunk])));
  const timer = setInterval(() => {
    if (to.destroyed) return clearInterval(timer);
    if (dark()) return; // black-holed: it hears nothing more, trickled or not
    if (pending.length > 0) {
      to.write(pending.subarray(0, bytes));
      pending = pending.subarray(bytes);
    } else if (afterLast) {
      clearInterval(timer);
      afterLast();
    }
  }, everyMs);
  return (then) => (afterLast = then);
}
