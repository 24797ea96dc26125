// Building a plugin's class from its config, and the values the host takes back.

import { reasonOf } from "./outcome.js";

const encoder = new TextEncoder();

/** The stage built from its config text (empty means `{}`). A failure is thrown as the reason
 * the config is refused. */
export function buildStage(Class, configText) {
  try {
    const config = configText.trim() === "" ? {} : JSON.parse(configText);
    return new Class(config);
  } catch (error) {
    throw reasonOf(error).replace(/^plugin threw /, "");
  }
}

/** An output's key as the WIT's `option<list<u8>>`. */
export function lowerKey(key) {
  if (key === undefined || key === null) return undefined;
  if (typeof key === "string") return encoder.encode(key);
  if (key instanceof Uint8Array) return key;
  if (key instanceof ArrayBuffer || Array.isArray(key)) return new Uint8Array(key);
  throw new TypeError(`a key must be a Uint8Array or a string, got ${typeof key}`);
}

/** An output's time as the WIT's `option<s64>`. */
export function lowerTime(ms) {
  if (ms === undefined || ms === null) return undefined;
  return BigInt(ms);
}
