"""The records a plugin reads, and the facts about their batch."""

import json

from ._outcome import Output, Reject


class Record:
    """One input record. ``value`` is its JSON text; ``key`` (bytes or None) and ``timestamp_ms``
    (int or None) come from Kafka. ``json()`` parses the value once and keeps the result."""

    __slots__ = ("value", "key", "timestamp_ms", "_parsed")

    def __init__(self, value, key=None, timestamp_ms=None):
        self.value = value
        self.key = key
        self.timestamp_ms = timestamp_ms
        self._parsed = None

    def json(self):
        """The value parsed (a dict for an object). Raises ``Reject`` when it is not JSON, so a
        plugin that does not catch it rejects the record with the parser's reason."""
        if self._parsed is None:
            try:
                self._parsed = json.loads(self.value)
            except ValueError as e:
                raise Reject(f"value is not valid JSON for this stage: {e}") from None
        return self._parsed

    def with_json(self, value):
        """An output with a new value (any JSON-able object) and this record's key and time."""
        return Output(value, key=self.key, timestamp_ms=self.timestamp_ms)

    def __repr__(self):
        return f"Record(value={self.value!r}, key={self.key!r}, timestamp_ms={self.timestamp_ms!r})"


class Context:
    """Facts about the batch, the same for each of its records."""

    __slots__ = ("processing_time_ms",)

    def __init__(self, processing_time_ms):
        #: When the host started the batch, ms since the Unix epoch. Use it instead of a clock.
        self.processing_time_ms = processing_time_ms


def split_batch(values, value_ends, keys, key_ends, timestamps):
    """The records of a column-wise batch (the WIT's ``record-batch``). Ends are byte offsets in
    the UTF-8 text of ``values``: an ASCII batch is sliced as it is, any other one as bytes."""
    n = len(value_ends)
    if len(key_ends) != n or len(timestamps) != n:
        raise ValueError(f"malformed batch: {n} values, {len(key_ends)} keys, {len(timestamps)} timestamps")
    if values.isascii():
        text, decode = values, None
    else:
        text, decode = values.encode("utf-8"), True
    records = []
    value_start = key_start = 0
    for value_end, key_end, timestamp_ms in zip(value_ends, key_ends, timestamps):
        value = text[value_start:value_end]
        if decode:
            value = value.decode("utf-8")
        key = bytes(keys[key_start:key_end]) if key_end > key_start else None
        records.append(Record(value, key, timestamp_ms))
        value_start, key_start = value_end, key_end
    return records
