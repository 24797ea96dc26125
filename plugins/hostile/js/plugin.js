// Hostile test plugin, in JavaScript. Per record:
// - {"spin": true}: loops forever (the deadline must stop it);
// - {"bomb": true}: allocates 16 MiB buffers without end (the memory cap must stop it);
// - {"throw": true}: throws (only that record may be rejected);
// - {"fetch": true}: fetches from the port of its config (the call must fail, and no
//   connection arrive);
// - {"escape": true}: looks for a process, an environment, a module loader or a file API, and
//   reports what it found as its output (each must be absent or empty);
// - anything else: accepted as it is.
// It logs a line to stdout (console.log) and stderr (console.error) on every escape.
// Config: {"port": 9}.

import { transform, Outcome } from "weir-sdk";

// What a call gave: a promise (its request may still be on its way), a value, or an error.
function attempt(call) {
  try {
    const result = call();
    return { ok: result instanceof Promise ? "a promise" : String(result) };
  } catch (e) {
    return { err: `${e?.name ?? "error"}: ${e?.message ?? String(e)}` };
  }
}

class Hostile {
  constructor(config) {
    this.port = config.port ?? 9;
  }

  process(record) {
    const value = record.json();
    if (value.spin) {
      for (;;) {}
    }
    if (value.bomb) {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(16 << 20).fill(1));
    }
    if (value.throw) throw new Error(`poison record: ${record.value}`);
    // componentize-js keeps `fetch`, but the component has no HTTP to send with: the call
    // stops the instance (a trap), and no connection may reach the port.
    if (value.fetch) return Outcome.accept(record.withJson({ fetch: attempt(() => fetch(`http://127.0.0.1:${this.port}/`)) }));
    if (value.escape) return Outcome.accept(record.withJson(this.escape()));
    return Outcome.accept(record.value, { key: record.key, timestampMs: record.timestampMs });
  }

  escape() {
    console.log("hostile-js: stdout line");
    console.error("hostile-js: stderr line");
    const g = globalThis;
    return {
      process: typeof g.process,
      require: typeof g.require,
      env: g.process?.env ? Object.keys(g.process.env) : [],
      deno: typeof g.Deno,
      globals: Object.getOwnPropertyNames(g).filter((n) => /fetch|socket|file|env|process/i.test(n)),
    };
  }
}

export const { init, process } = transform(Hostile);
