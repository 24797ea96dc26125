"""{{name}}: a Weir transform plugin.

Rejects a record without the config's `required` fields (to quarantine, with the reason), and
adds `amount_cents` when the record has a numeric `amount`. Config: {"required": ["id", "user"]}.

Build: scripts/build-plugin.sh {{name}}
Try:   weir plugin test {{name}}/{{file}}.wasm --input {{name}}/sample.jsonl --config '{"required":["id","user"]}'
"""

import weir_sdk as weir


@weir.transform
class Plugin:
    def __init__(self, config):
        self.required = config.get("required", ["id"])

    def process(self, record, context):
        value = record.json()  # not JSON: the record is rejected with the parser's reason
        if not isinstance(value, dict):
            return weir.Outcome.reject("value must be a JSON object")
        for field in self.required:
            if value.get(field) is None:
                return weir.Outcome.reject(f"missing required field `{field}`")
        amount = value.get("amount")
        if isinstance(amount, (int, float)) and not isinstance(amount, bool):
            value["amount_cents"] = round(amount * 100)
            return weir.Outcome.accept(record.with_json(value))
        return weir.Outcome.PASS
