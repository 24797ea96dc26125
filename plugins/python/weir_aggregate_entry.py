"""The `aggregate` world of wit/weir-plugin.wit, bound to the class ``plugin.py`` names with
``@weir_sdk.aggregate``. ``scripts/build-plugin.sh`` makes this module the component's
entry; plugin authors do not import it."""

import json

import wit_world
from componentize_py_types import Err, Ok

import plugin  # noqa: F401 - registers the plugin's class
from weir_sdk import split_batch
from weir_sdk._registry import build, reason_of

# componentize-py builds the exported class anew for each call: the stage lives here.
_stage = None


def _records(batch):
    return split_batch(batch.values, batch.value_ends, batch.keys, batch.key_ends, batch.timestamps)


def _each(items, call, check):
    """``call`` on each item, its answer checked by ``check``; an exception is that item's Err."""
    if _stage is None:
        return [Err("the stage was not initialised")] * len(items)
    out = []
    for item in items:
        try:
            out.append(Ok(check(call(item))))
        except Exception as error:  # noqa: BLE001 - one item's failure is its own
            out.append(Err(reason_of(error)))
    return out


def _state(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"a state must be bytes, got {type(value).__name__}")


def _key(value):
    if isinstance(value, str):
        return value
    raise TypeError(f"a key must be a str, got {type(value).__name__}")


def _row(value):
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    raise TypeError(f"finish must return a dict, got {type(value).__name__}")


class WitWorld(wit_world.WitWorld):
    def init(self, config):
        global _stage
        try:
            _stage = build("aggregate", config)
        except Exception as error:  # noqa: BLE001 - any failure refuses the config
            raise Err(f"{type(error).__name__}: {error}") from None

    def keys(self, batch):
        return _each(_records(batch), lambda r: _stage.key(r), _key)

    def accumulate(self, groups):
        return _each(groups, lambda g: _stage.accumulate(g.state, _records(g.records)), _state)

    def merge(self, pairs):
        return _each(pairs, lambda p: _stage.merge(p[0], p[1]), _state)

    def finish(self, states):
        return _each(states, lambda s: _stage.finish(s), _row)
