// The records a plugin reads, and the facts about their batch.

import { Output, Reject } from "./outcome.js";

const ASCII = /^[\x00-\x7f]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One input record. `value` is its JSON text; `key` (Uint8Array or undefined) and
 * `timestampMs` (BigInt or undefined) come from Kafka. `json()` parses the value once. */
export class Record {
  constructor(value, key, timestampMs) {
    this.value = value;
    this.key = key;
    this.timestampMs = timestampMs;
    this.parsed = undefined;
  }

  /** The value parsed. Throws `Reject` when it is not JSON, so a plugin that does not catch it
   * rejects the record with the parser's reason. */
  json() {
    if (this.parsed === undefined) {
      try {
        this.parsed = JSON.parse(this.value);
      } catch (e) {
        throw new Reject(`value is not valid JSON for this stage: ${e.message}`);
      }
    }
    return this.parsed;
  }

  /** An output with a new value and this record's key and time. */
  withJson(value) {
    return new Output(value, { key: this.key, timestampMs: this.timestampMs });
  }
}

/** Facts about the batch, the same for each of its records. */
export class Context {
  constructor(processingTimeMs) {
    /** When the host started the batch, ms since the Unix epoch (a Number). */
    this.processingTimeMs = processingTimeMs;
  }
}

/** The records of a column-wise batch (the WIT's `record-batch`). Ends are byte offsets in the
 * UTF-8 text of `values`: an ASCII batch is sliced as it is, any other one as bytes. */
export function splitBatch(batch) {
  const { values, valueEnds, keyEnds, timestamps } = batch;
  // The engine may hand `list<u8>` over as a plain array: keys are bytes either way.
  const keys = batch.keys instanceof Uint8Array ? batch.keys : Uint8Array.from(batch.keys);
  const n = valueEnds.length;
  if (keyEnds.length !== n || timestamps.length !== n) {
    throw new Error(`malformed batch: ${n} values, ${keyEnds.length} keys, ${timestamps.length} timestamps`);
  }
  const ascii = ASCII.test(values);
  const bytes = ascii ? undefined : encoder.encode(values);
  const records = new Array(n);
  let valueStart = 0;
  let keyStart = 0;
  for (let i = 0; i < n; i++) {
    const valueEnd = valueEnds[i];
    const keyEnd = keyEnds[i];
    const value = ascii ? values.slice(valueStart, valueEnd) : decoder.decode(bytes.subarray(valueStart, valueEnd));
    const key = keyEnd > keyStart ? keys.slice(keyStart, keyEnd) : undefined;
    records[i] = new Record(value, key, timestamps[i]);
    valueStart = valueEnd;
    keyStart = keyEnd;
  }
  return records;
}
