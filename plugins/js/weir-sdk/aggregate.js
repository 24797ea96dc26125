// The `aggregate` world's exports, built around the plugin's class.

import { reasonOf } from "./outcome.js";
import { splitBatch } from "./record.js";
import { buildStage } from "./stage.js";

/** `call` on each item, its answer checked by `check`; a thrown error is that item's err. */
function each(stage, items, call, check) {
  if (stage === undefined) return items.map(() => ({ tag: "err", val: "the stage was not initialised" }));
  return items.map((item) => {
    try {
      return { tag: "ok", val: check(call(item)) };
    } catch (error) {
      return { tag: "err", val: reasonOf(error) };
    }
  });
}

function state(value) {
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`a state must be a Uint8Array, got ${typeof value}`);
}

function key(value) {
  if (typeof value === "string") return value;
  throw new TypeError(`a key must be a string, got ${typeof value}`);
}

function row(value) {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  throw new TypeError(`finish must return an object, got ${typeof value}`);
}

/** The component's exports for an aggregate class: `new Class(config)` builds it; `key(record)`,
 * `accumulate(state, records)` (state undefined for a new group), `merge(left, right)` and
 * `finish(state)` are its calls; states are the plugin's own Uint8Arrays. */
export function aggregate(Class) {
  let stage;
  return {
    init(config) {
      stage = buildStage(Class, config);
    },
    keys(batch) {
      return each(stage, splitBatch(batch), (r) => stage.key(r), key);
    },
    accumulate(groups) {
      return each(stage, groups, (g) => stage.accumulate(g.state, splitBatch(g.records)), state);
    },
    merge(pairs) {
      return each(stage, pairs, ([left, right]) => stage.merge(left, right), state);
    },
    finish(states) {
      return each(stage, states, (s) => stage.finish(s), row);
    },
  };
}
