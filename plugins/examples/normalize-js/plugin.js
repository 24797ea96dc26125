// Normalises field names from camelCase to snake_case (recursively) and adds processing metadata:
// when the batch was processed and which plugin version did it. The same stage as
// plugins/examples/normalize (Rust), with the same config and outcomes; only the version it
// writes differs (this one's name).
//
// Config (all optional): { "metadata": true, "processed_at_field": "_processed_at",
// "version_field": "_plugin_version" }.
//
// Numbers are read as JavaScript reads them (doubles): an integer beyond 2^53 loses precision,
// where the Rust stage copies it as written.

import { transform, Outcome, Reject } from "weir-sdk";

const VERSION = "weir-normalize-js@0.1.0";
const SETTINGS = ["metadata", "processed_at_field", "version_field"];
const DIGIT = /[0-9]/;

// Letters with a case, as Rust's `char::is_uppercase` / `is_lowercase` see them (the engine has
// no Unicode property escapes in its regular expressions).
const isUpper = (c) => c !== c.toLowerCase() && c === c.toUpperCase();
const isLower = (c) => c !== c.toUpperCase() && c === c.toLowerCase();

/** `camelCase`, `PascalCase` and `HTTPStatus`-style names to `snake_case`; others unchanged. */
export function snakeCase(name) {
  if (name === name.toLowerCase()) return name;
  const chars = Array.from(name);
  let out = "";
  chars.forEach((c, i) => {
    if (isUpper(c)) {
      const prev = chars[i - 1];
      const next = chars[i + 1];
      const boundary =
        prev !== undefined &&
        (isLower(prev) || DIGIT.test(prev) || (isUpper(prev) && next !== undefined && isLower(next)));
      if (boundary && !out.endsWith("_")) out += "_";
      out += c.toLowerCase();
    } else {
      out += c;
    }
  });
  return out;
}

function normalizeKeys(value) {
  if (Array.isArray(value)) return value.map(normalizeKeys);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[snakeCase(k)] = normalizeKeys(v);
    return out;
  }
  return value;
}

class Normalize {
  constructor(config) {
    const unknown = Object.keys(config).filter((k) => !SETTINGS.includes(k));
    if (unknown.length > 0) throw new Error(`invalid config: unknown field \`${unknown[0]}\``);
    this.metadata = config.metadata ?? true;
    this.processedAtField = config.processed_at_field ?? "_processed_at";
    this.versionField = config.version_field ?? "_plugin_version";
  }

  process(record, context) {
    const value = record.json();
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Reject("value must be a JSON object");
    }
    const out = normalizeKeys(value);
    if (this.metadata) {
      out[this.processedAtField] = new Date(context.processingTimeMs).toISOString();
      out[this.versionField] = VERSION;
    }
    return Outcome.accept(record.withJson(out));
  }
}

export const { init, process } = transform(Normalize);
