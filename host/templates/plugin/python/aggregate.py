"""{{name}}: a Weir aggregate plugin.

Sums `amount` per value of the config's `group_by` field, per window; the gold row is
{"total": ..., "count": ...}. Config: {"group_by": "user"}. The host keeps each group's state
(the bytes `accumulate` returns), checkpoints it, and calls `finish` when the window closes.

Build: scripts/build-plugin.sh {{name}}
"""

import json

import weir_sdk as weir


def load(state):
    return json.loads(state) if state else {"total": 0.0, "count": 0}


def dump(totals):
    return json.dumps(totals).encode()


@weir.aggregate
class Plugin:
    def __init__(self, config):
        self.group_by = config.get("group_by", "user")

    def key(self, record):
        group = record.json().get(self.group_by)
        if not isinstance(group, str):
            raise weir.Reject(f"no `{self.group_by}`")
        return group

    def accumulate(self, state, records):
        totals = load(state)
        for record in records:
            amount = record.json().get("amount")
            if isinstance(amount, (int, float)) and not isinstance(amount, bool):
                totals["total"] += amount
            totals["count"] += 1
        return dump(totals)

    def merge(self, left, right):
        a, b = load(left), load(right)
        return dump({"total": a["total"] + b["total"], "count": a["count"] + b["count"]})

    def finish(self, state):
        return load(state)
