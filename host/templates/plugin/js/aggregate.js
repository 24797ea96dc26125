// {{name}}: a Weir aggregate plugin.
//
// Sums `amount` per value of the config's `group_by` field, per window; the gold row is
// {"total": ..., "count": ...}. Config: {"group_by": "user"}. The host keeps each group's state
// (the bytes `accumulate` returns), checkpoints it, and calls `finish` when the window closes.
//
// Build: scripts/build-plugin.sh {{name}}

import { aggregate, Reject } from "weir-sdk";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const load = (state) => (state ? JSON.parse(decoder.decode(state)) : { total: 0, count: 0 });
const dump = (totals) => encoder.encode(JSON.stringify(totals));

class Plugin {
  constructor(config) {
    this.groupBy = config.group_by ?? "user";
  }

  key(record) {
    const group = record.json()[this.groupBy];
    if (typeof group !== "string") throw new Reject(`no \`${this.groupBy}\``);
    return group;
  }

  accumulate(state, records) {
    const totals = load(state);
    for (const record of records) {
      const amount = record.json().amount;
      if (typeof amount === "number") totals.total += amount;
      totals.count += 1;
    }
    return dump(totals);
  }

  merge(left, right) {
    const a = load(left);
    const b = load(right);
    return dump({ total: a.total + b.total, count: a.count + b.count });
  }

  finish(state) {
    return load(state);
  }
}

export const { init, keys, accumulate, merge, finish } = aggregate(Plugin);
