"""What becomes of one input record."""

import json

# How outputs are written: compact, and without escaping non-ASCII text.
_SEPARATORS = (",", ":")


class Reject(Exception):
    """Raised in ``process`` (or an aggregate's ``key``): the record goes to quarantine with this
    message as its reason. Any other exception rejects the record too, naming its type."""


class Output:
    """A record a plugin produces. ``value`` is JSON text (``str``) or any object ``json.dumps``
    takes; ``key`` is bytes (or a str, sent as UTF-8)."""

    __slots__ = ("value", "key", "timestamp_ms")

    def __init__(self, value, key=None, timestamp_ms=None):
        self.value = value
        self.key = key
        self.timestamp_ms = timestamp_ms

    def text(self):
        """The value as JSON text."""
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, separators=_SEPARATORS, ensure_ascii=False)

    def key_bytes(self):
        """The key as bytes, or None."""
        if isinstance(self.key, str):
            return self.key.encode("utf-8")
        return None if self.key is None else bytes(self.key)


class Outcome:
    """The verdict on one record: pass (accepted unchanged), accepted with zero or more outputs,
    or rejected with a reason. Build one with the class's helpers; ``None`` returned from
    ``process`` means ``Outcome.PASS``."""

    __slots__ = ("outputs", "reason")

    #: Accepted unchanged: the cheapest verdict for validations and filters (nothing is copied).
    PASS = None  # set below, once the class exists

    def __init__(self, outputs=None, reason=None):
        self.outputs = outputs
        self.reason = reason

    @staticmethod
    def accept(value, key=None, timestamp_ms=None):
        """Accepted with one output: an ``Output``, or a value (JSON text or object)."""
        output = value if isinstance(value, Output) else Output(value, key, timestamp_ms)
        return Outcome([output])

    @staticmethod
    def accept_all(outputs):
        """Accepted with these outputs (``Output``s or values): several flat-map, none filters."""
        return Outcome([o if isinstance(o, Output) else Output(o) for o in outputs])

    @staticmethod
    def filter():
        """Accepted with no output: the record is dropped (not quarantined)."""
        return Outcome([])

    @staticmethod
    def reject(reason):
        """Rejected: the record goes to quarantine with this reason."""
        return Outcome(reason=str(reason))

    @property
    def is_pass(self):
        return self.outputs is None and self.reason is None

    def __eq__(self, other):
        if not isinstance(other, Outcome):
            return NotImplemented
        mine = None if self.outputs is None else [(o.text(), o.key_bytes(), o.timestamp_ms) for o in self.outputs]
        theirs = None if other.outputs is None else [(o.text(), o.key_bytes(), o.timestamp_ms) for o in other.outputs]
        return mine == theirs and self.reason == other.reason

    def __repr__(self):
        if self.reason is not None:
            return f"Outcome.reject({self.reason!r})"
        if self.outputs is None:
            return "Outcome.PASS"
        return f"Outcome.accept_all({[o.text() for o in self.outputs]!r})"


Outcome.PASS = Outcome()
