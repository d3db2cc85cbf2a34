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

/**
 * A fake Engine API on a unix socket at `path`, for answers no real dockerd or Podman gives
 * (a list that is an object, an id that is a number): `GET <p>` is answered with
 * `routes[p]` as JSON, where `p` is the request's path without its API version prefix
 * (`/v1.47`, `/v4.3.1`) nor its query (`/containers/json`, `/libpod/pods/json`,
 * `/containers/<id>/json`); a path not in `routes` is a 404.
 */
export function engineSocket(path: string, routes: Record<string, unknown>): AsyncDisposable {
  const server = Deno.serve({ path, onListen: () => {} }, (request) => {
    const route = new URL(request.url).pathname.replace(/^\/v\d+(\.\d+)*(?=\/)/, "");
    if (!Object.hasOwn(routes, route)) {
      return Response.json({ message: `page not found: ${route}` }, { status: 404 });
    }
    return new Response(JSON.stringify(routes[route]), {
      headers: { "content-type": "application/json" },
    });
  });
  return { [Symbol.asyncDispose]: () => server.shutdown() };
}
