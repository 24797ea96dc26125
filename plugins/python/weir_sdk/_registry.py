"""The plugin's class, named by a decorator, and the per-record calls around it."""

import json

from ._outcome import Outcome, Reject

_classes = {}


def transform(cls):
    """Names the plugin's transform class: ``cls(config)`` builds the stage, and
    ``process(record, context)`` returns an ``Outcome`` (or None, for ``Outcome.PASS``)."""
    _classes["transform"] = cls
    return cls


def aggregate(cls):
    """Names the plugin's aggregate class: ``cls(config)`` builds it; ``key(record) -> str``,
    ``accumulate(state, records) -> bytes``, ``merge(left, right) -> bytes`` and
    ``finish(state) -> dict`` are its calls (the state is the plugin's own bytes; None for a new
    group)."""
    _classes["aggregate"] = cls
    return cls


def build(world, config_text):
    """The stage built from its config text (empty means ``{}``). Raises ``ValueError`` with the
    reason the config is refused."""
    cls = _classes.get(world)
    if cls is None:
        raise ValueError(f"the plugin names no {world} class: decorate it with @weir_sdk.{world}")
    config = json.loads(config_text) if config_text.strip() else {}
    return cls(config)


def reason_of(error):
    """A record's rejection reason for an exception its call raised."""
    if isinstance(error, Reject):
        return str(error)
    return f"plugin raised {type(error).__name__}: {error}"


def verdict(stage, record, context):
    """``process`` on one record; an exception rejects that record only."""
    try:
        outcome = stage.process(record, context)
    except Exception as error:  # noqa: BLE001 - any plugin error is the record's reason
        return Outcome.reject(reason_of(error))
    if outcome is None:
        return Outcome.PASS
    if not isinstance(outcome, Outcome):
        return Outcome.reject(f"plugin returned {type(outcome).__name__}, not an Outcome")
    return outcome
