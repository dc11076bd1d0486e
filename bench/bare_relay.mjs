// A bare Node socket.io relay: the protocol's ceiling, next to bench/bare_relay.py (the stack's).
//
// The same behaviour as bare_relay.py: a socket names its user and peer in the query
// string and joins their pair room and its own user room; `send` gets an id, `from` and
// `ts`, is emitted to the pair room (`--to peer`: only to the peer's user room) and acked
// `{ok, id, ts}`. Same certificate, TLS 1.2+ with the same AEAD suites, the same ping
// settings and packet limit, TCP_NODELAY on (`--nagle`: off). No session, no database.
//
// Run by the harness: `node bench/bare_relay.mjs --port P --cert-dir DIR` (127.0.0.1).
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { Server } from "socket.io";

const ENVELOPE_FIELDS = ["v", "cid", "to", "sk", "rk", "n", "ct"];
const TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"; // as app.py
const PACKET_LIMIT = 4 * 65_536 + 65_536; // as bare_relay.py

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "cert-dir": { type: "string" },
    to: { type: "string", default: "pair" },
    nagle: { type: "boolean", default: false },
  },
});
if (!args.port || !args["cert-dir"] || !["pair", "peer"].includes(args.to)) {
  console.error("usage: node bench/bare_relay.mjs --port P --cert-dir DIR "
    + "[--to pair|peer] [--nagle]");
  process.exit(2);
}

const pairRoom = (a, b) => {
  const [lo, hi] = [a, b].sort((x, y) => x - y);
  return `pair:${lo}:${hi}`;
};

const https = createServer({
  cert: readFileSync(join(args["cert-dir"], "cert.pem")),
  key: readFileSync(join(args["cert-dir"], "key.pem")),
  minVersion: "TLSv1.2",
  ciphers: TLS12_CIPHERS,
  noDelay: !args.nagle,
});
const io = new Server(https, {
  pingInterval: 20_000,
  pingTimeout: 20_000,
  maxHttpBufferSize: PACKET_LIMIT,
  serveClient: false,
});
let nextId = 1;

io.on("connection", (socket) => {
  const user = Number(socket.handshake.query.user);
  const peer = Number(socket.handshake.query.peer);
  socket.join([pairRoom(user, peer), `user:${user}`]);
  const room = args.to === "pair" ? pairRoom(user, peer) : `user:${peer}`;
  socket.on("send", (data, ack) => {
    const message = {};
    for (const name of ENVELOPE_FIELDS) message[name] = data?.[name] ?? null;
    message.id = nextId++;
    message.ts = Date.now();
    message.from = user;
    io.to(room).emit("message", message);
    if (typeof ack === "function") ack({ ok: true, id: message.id, ts: message.ts });
  });
});

const stop = () => {
  io.close();
  https.closeAllConnections?.();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

https.listen(Number(args.port), args.host, () => {
  console.log(`bare node relay ready on https://${args.host}:${args.port}`);
});
