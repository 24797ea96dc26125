// The `transform` world's exports, built around the plugin's class.

import { Outcome, reasonOf } from "./outcome.js";
import { Context, splitBatch } from "./record.js";
import { buildStage, lowerKey, lowerTime } from "./stage.js";

const PASS = { tag: "pass" };

function verdict(stage, record, context) {
  let outcome;
  try {
    outcome = stage.process(record, context);
  } catch (error) {
    return { tag: "rejected", val: reasonOf(error) };
  }
  if (outcome === undefined || outcome === Outcome.PASS) return PASS;
  if (!(outcome instanceof Outcome)) {
    return { tag: "rejected", val: `plugin returned ${typeof outcome}, not an Outcome` };
  }
  if (outcome.reason !== undefined) return { tag: "rejected", val: outcome.reason };
  if (outcome.outputs === undefined) return PASS;
  try {
    const records = outcome.outputs.map((o) => ({
      key: lowerKey(o.key),
      value: o.text(),
      timestampMs: lowerTime(o.timestampMs),
    }));
    return { tag: "accepted", val: records };
  } catch (error) {
    return { tag: "rejected", val: `cannot encode output: ${reasonOf(error)}` };
  }
}

/** The component's `init` and `process` for a transform class: `new Class(config)` builds the
 * stage, and `process(record, context)` returns an `Outcome` (or undefined, for PASS). */
export function transform(Class) {
  let stage;
  return {
    init(config) {
      stage = buildStage(Class, config);
    },
    process(batch, context) {
      const records = splitBatch(batch);
      if (stage === undefined) return records.map(() => ({ tag: "rejected", val: "the stage was not initialised" }));
      const ctx = new Context(Number(context.processingTimeMs));
      return records.map((record) => verdict(stage, record, ctx));
    },
  };
}
