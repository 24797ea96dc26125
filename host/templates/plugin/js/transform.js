// {{name}}: a Weir transform plugin.
//
// Rejects a record without the config's `required` fields (to quarantine, with the reason), and
// adds `amount_cents` when the record has a numeric `amount`. Config: {"required": ["id", "user"]}.
//
// Build: scripts/build-plugin.sh {{name}}
// Try:   weir plugin test {{name}}/{{file}}.wasm --input {{name}}/sample.jsonl --config '{"required":["id","user"]}'

import { transform, Outcome } from "weir-sdk";

class Plugin {
  constructor(config) {
    this.required = config.required ?? ["id"];
  }

  process(record, context) {
    const value = record.json(); // not JSON: the record is rejected with the parser's reason
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return Outcome.reject("value must be a JSON object");
    }
    for (const field of this.required) {
      if (value[field] === undefined || value[field] === null) {
        return Outcome.reject(`missing required field \`${field}\``);
      }
    }
    if (typeof value.amount === "number") {
      value.amount_cents = Math.round(value.amount * 100);
      return Outcome.accept(record.withJson(value));
    }
    return Outcome.PASS;
  }
}

export const { init, process } = transform(Plugin);
