"""Reload test plugin, in Python: adds `"plugin_version": "v2"` to every JSON object record.
tag-py-v1 and tag-py-v2 differ only in that tag."""

import weir_sdk as weir

VERSION = "v2"


@weir.transform
class Tag:
    def __init__(self, config):
        pass

    def process(self, record, context):
        value = record.json()
        if not isinstance(value, dict):
            return weir.Outcome.reject("value must be a JSON object")
        value["plugin_version"] = VERSION
        return weir.Outcome.accept(record.with_json(value))
