// What becomes of one input record.

/** Thrown in `process` (or an aggregate's `key`): the record goes to quarantine with this
 * message as its reason. */
export class Reject extends Error {
  constructor(reason) {
    super(reason);
    this.name = "Reject";
  }
}

/** A record a plugin produces. `value` is JSON text (a string) or any object JSON.stringify
 * takes; `key` is a Uint8Array or a string (sent as UTF-8); `timestampMs` a number or BigInt. */
export class Output {
  constructor(value, { key, timestampMs } = {}) {
    this.value = value;
    this.key = key;
    this.timestampMs = timestampMs;
  }

  /** The value as JSON text. */
  text() {
    return typeof this.value === "string" ? this.value : JSON.stringify(this.value);
  }
}

/** The verdict on one record: pass (accepted unchanged), accepted with zero or more outputs, or
 * rejected with a reason. `undefined` returned from `process` means `Outcome.PASS`. */
export class Outcome {
  constructor(outputs, reason) {
    this.outputs = outputs;
    this.reason = reason;
  }

  /** Accepted with one output: an `Output`, or a value (JSON text or object). */
  static accept(value, options) {
    return new Outcome([value instanceof Output ? value : new Output(value, options)]);
  }

  /** Accepted with these outputs (`Output`s or values): several flat-map, none filters. */
  static acceptAll(outputs) {
    return new Outcome(outputs.map((o) => (o instanceof Output ? o : new Output(o))));
  }

  /** Accepted with no output: the record is dropped (not quarantined). */
  static filter() {
    return new Outcome([]);
  }

  /** Rejected: the record goes to quarantine with this reason. */
  static reject(reason) {
    return new Outcome(undefined, String(reason));
  }
}

/** Accepted unchanged: the cheapest verdict for validations and filters (nothing is copied). */
Outcome.PASS = new Outcome(undefined, undefined);

/** A record's rejection reason for an error its call threw. */
export function reasonOf(error) {
  if (error instanceof Reject) return error.message;
  if (error instanceof Error) return `plugin threw ${error.name}: ${error.message}`;
  return `plugin threw ${String(error)}`;
}
