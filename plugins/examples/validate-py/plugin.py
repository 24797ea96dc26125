"""Data-quality checks, in Python: required fields, JSON types and numeric ranges.

The same stage as plugins/examples/validate (Rust), with the same config and the same reasons:

    { "required": ["id", "subreddit"],
      "types": { "score": "integer", "title": "string" },
      "ranges": { "score": { "min": 0, "max": 1000000 } } }

A record passes unchanged or is rejected with the first rule it breaks (required fields in the
order given, then types and ranges by field name).
"""

import json
from decimal import Decimal

import weir_sdk as weir

KINDS = ("string", "integer", "number", "boolean", "object", "array")


class Raw:
    """A number as its JSON text, so a reason shows it as the record wrote it."""

    __slots__ = ("text", "kind")

    def __init__(self, text, kind):
        self.text = text
        self.kind = kind


def _integer(text):
    return Raw(text, "integer")


def _number(text):
    return Raw(text, "number")


def type_of(value):
    """The JSON type of a parsed value as the rules speak of it."""
    if value is None:
        return "null"
    if isinstance(value, Raw):
        return value.kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shown(x):
    """A float as Rust's Display writes it (shortest digits, no exponent), as the Rust stage
    writes its bounds."""
    text = format(Decimal(repr(float(x))), "f")
    return text[:-2] if text.endswith(".0") else text


def _refuse_unknown(table, allowed, where):
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"invalid config: unknown field `{unknown[0]}` in {where}, expected one of {', '.join(allowed)}")


@weir.transform
class Validate:
    def __init__(self, config):
        _refuse_unknown(config, ("required", "types", "ranges"), "the config")
        self.required = list(config.get("required", []))
        self.types = sorted(config.get("types", {}).items())
        for name, kind in self.types:
            if kind not in KINDS:
                raise ValueError(f"invalid config: type of `{name}` is `{kind}`, expected one of {', '.join(KINDS)}")
        self.ranges = []
        for name, bounds in sorted(config.get("ranges", {}).items()):
            _refuse_unknown(bounds, ("min", "max"), f"the range of `{name}`")
            low, high = bounds.get("min"), bounds.get("max")
            low = None if low is None else float(low)
            high = None if high is None else float(high)
            if low is not None and high is not None and low > high:
                raise ValueError(f"range of `{name}`: min {shown(low)} is above max {shown(high)}")
            self.ranges.append((name, low, high))

    def process(self, record, context):
        reason = self.check(record.value)
        return weir.Outcome.PASS if reason is None else weir.Outcome.reject(reason)

    def check(self, value):
        """The first rule the value breaks, or None."""
        try:
            fields = json.loads(value, parse_int=_integer, parse_float=_number)
        except ValueError as e:
            return f"value is not valid JSON for this stage: {e}"
        if not isinstance(fields, dict):
            return f"value must be a JSON object, got {type_of(fields)}"
        for name in self.required:
            if fields.get(name) is None:
                return f"missing required field `{name}`"
        for name, kind in self.types:
            found = type_of(fields.get(name))
            if found == "null":
                continue
            if found != kind and not (kind == "number" and found == "integer"):
                return f"field `{name}` must be {kind}, got {found}"
        for name, low, high in self.ranges:
            raw = fields.get(name)
            if raw is None:
                continue
            if not isinstance(raw, Raw):
                return f"field `{name}` must be a number to check its range, got {type_of(raw)}"
            x = float(raw.text)
            if low is not None and x < low:
                return f"field `{name}` = {raw.text} is below the minimum {shown(low)}"
            if high is not None and x > high:
                return f"field `{name}` = {raw.text} is above the maximum {shown(high)}"
        return None
