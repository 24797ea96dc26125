// The Weir plugin SDK for JavaScript: a plugin is one class, handed to `transform` or `aggregate`,
// whose returned functions the module exports.
//
//   import { transform, Outcome } from "weir-sdk";
//
//   export const { init, process } = transform(class DropEmpty {
//     constructor(config) { this.field = config.field ?? "text"; }
//     process(record, context) {
//       return record.json()[this.field] ? Outcome.PASS : Outcome.filter();
//     }
//   });
//
// `scripts/build-plugin.sh DIR` bundles DIR/plugin.js with this SDK and makes it a component
// of the world named in DIR/package.json (`"weir": { "world": "transform" }` or "aggregate").
// The host hands the plugin batches of records; the SDK calls the class once per record
// (`process`, `key`) or per group (`accumulate`), as the Rust SDK does.
//
// Map of the module:
// - Record (input), Output, Outcome, Context: what a plugin reads and returns.
// - transform / aggregate: the component's exports, built around the plugin's class.
// - Reject: throw it in `process` or `key` to reject the record with its message; any other
//   error rejects that record too, naming its type.
// - log: the host log (console.log goes there too, as the stage's stdout).

import { log as hostLog } from "weir:plugin/host@0.1.0";

export { Outcome, Output, Reject } from "./outcome.js";
export { Context, Record, splitBatch } from "./record.js";
export { transform } from "./transform.js";
export { aggregate } from "./aggregate.js";

/** The host log: each line is tagged with the pipeline and stage. */
export const log = {
  trace: (message) => hostLog("trace", String(message)),
  debug: (message) => hostLog("debug", String(message)),
  info: (message) => hostLog("info", String(message)),
  warn: (message) => hostLog("warn", String(message)),
  error: (message) => hostLog("error", String(message)),
};
