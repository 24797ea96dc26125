// Data-quality checks, in JavaScript: required fields, JSON types and numeric ranges. The same
// stage as plugins/examples/validate (Rust), with the same config and the same reasons:
//
//   { "required": ["id", "subreddit"],
//     "types": { "score": "integer", "title": "string" },
//     "ranges": { "score": { "min": 0, "max": 1000000 } } }
//
// A record passes unchanged or is rejected with the first rule it breaks (required fields in the
// order given, then types and ranges by field name). Where the engine gives JSON.parse the source
// text of a number, `2e3` is a number and not an integer, as in Rust; elsewhere a number with no
// fraction counts as an integer.

import { transform, Outcome } from "weir-sdk";

const KINDS = ["string", "integer", "number", "boolean", "object", "array"];
const SETTINGS = ["required", "types", "ranges"];
const BOUNDS = ["min", "max"];

/** A top-level number as the record wrote it. */
class Raw {
  constructor(text, value) {
    this.text = text;
    this.value = value;
  }

  get kind() {
    return /[.eE]/.test(this.text) ? "number" : "integer";
  }
}

// Whether JSON.parse hands a reviver the source text of each value (TC39 "JSON.parse source
// text access").
const SOURCE_TEXT = JSON.parse("1", (_key, value, context) => context?.source === "1") === true;

function reviver(_key, value, context) {
  return typeof value === "number" ? new Raw(context.source, value) : value;
}

/** The value parsed, its numbers as `Raw`; or the reason it does not parse. */
function parse(text) {
  try {
    return { fields: SOURCE_TEXT ? JSON.parse(text, reviver) : JSON.parse(text) };
  } catch (e) {
    return { error: `value is not valid JSON for this stage: ${e.message}` };
  }
}

function typeOf(value) {
  if (value === null || value === undefined) return "null";
  if (value instanceof Raw) return value.kind;
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "string") return "string";
  return Array.isArray(value) ? "array" : "object";
}

function refuseUnknown(table, allowed, where) {
  const unknown = Object.keys(table).filter((k) => !allowed.includes(k)).sort();
  if (unknown.length > 0) {
    throw new Error(`invalid config: unknown field \`${unknown[0]}\` in ${where}, expected one of ${allowed.join(", ")}`);
  }
}

const byName = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

class Validate {
  constructor(config) {
    refuseUnknown(config, SETTINGS, "the config");
    this.required = config.required ?? [];
    this.types = Object.entries(config.types ?? {}).sort(byName);
    for (const [name, kind] of this.types) {
      if (!KINDS.includes(kind)) {
        throw new Error(`invalid config: type of \`${name}\` is \`${kind}\`, expected one of ${KINDS.join(", ")}`);
      }
    }
    this.ranges = Object.entries(config.ranges ?? {})
      .sort(byName)
      .map(([name, bounds]) => {
        refuseUnknown(bounds, BOUNDS, `the range of \`${name}\``);
        const { min, max } = bounds;
        if (min !== undefined && max !== undefined && min > max) {
          throw new Error(`range of \`${name}\`: min ${min} is above max ${max}`);
        }
        return [name, min, max];
      });
  }

  process(record) {
    const reason = this.check(record.value);
    return reason === undefined ? Outcome.PASS : Outcome.reject(reason);
  }

  /** The first rule the value breaks, or undefined. */
  check(value) {
    const { fields, error } = parse(value);
    if (error !== undefined) return error;
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      return `value must be a JSON object, got ${typeOf(fields)}`;
    }
    const present = (name) => (Object.hasOwn(fields, name) ? fields[name] : null);
    for (const name of this.required) {
      if (present(name) === null) return `missing required field \`${name}\``;
    }
    for (const [name, kind] of this.types) {
      const found = typeOf(present(name));
      if (found === "null") continue;
      if (found !== kind && !(kind === "number" && found === "integer")) {
        return `field \`${name}\` must be ${kind}, got ${found}`;
      }
    }
    for (const [name, min, max] of this.ranges) {
      const raw = present(name);
      if (raw === null) continue;
      const found = typeOf(raw);
      if (found !== "integer" && found !== "number") {
        return `field \`${name}\` must be a number to check its range, got ${found}`;
      }
      const [x, shown] = raw instanceof Raw ? [raw.value, raw.text] : [raw, String(raw)];
      if (min !== undefined && x < min) return `field \`${name}\` = ${shown} is below the minimum ${min}`;
      if (max !== undefined && x > max) return `field \`${name}\` = ${shown} is above the maximum ${max}`;
    }
    return undefined;
  }
}

export const { init, process } = transform(Validate);
