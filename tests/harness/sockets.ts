/**
 * Unix sockets that misbehave on purpose, for discovery and deadline tests.
 *
 * @module
 */

/** A unix socket at `path` that accepts connections and never writes a byte. */
export function silentSocket(path: string): AsyncDisposable {
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}
