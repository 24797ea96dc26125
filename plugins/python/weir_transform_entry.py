"""The `transform` world of wit/weir-plugin.wit, bound to the class ``plugin.py`` names with
``@weir_sdk.transform``. ``scripts/build-plugin.sh`` makes this module the component's
entry; plugin authors do not import it."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import types

import plugin  # noqa: F401 - registers the plugin's class
from weir_sdk import Context, split_batch
from weir_sdk._registry import build, verdict

# componentize-py builds the exported class anew for each call: the stage lives here.
_stage = None
_PASS = types.Outcome_Pass()


def _lower(outcome):
    if outcome.reason is not None:
        return types.Outcome_Rejected(outcome.reason)
    if outcome.outputs is None:
        return _PASS
    try:
        records = [types.Record(o.key_bytes(), o.text(), o.timestamp_ms) for o in outcome.outputs]
    except Exception as error:  # noqa: BLE001 - an output that does not encode rejects its record
        return types.Outcome_Rejected(f"cannot encode output: {type(error).__name__}: {error}")
    return types.Outcome_Accepted(records)


class WitWorld(wit_world.WitWorld):
    def init(self, config):
        global _stage
        try:
            _stage = build("transform", config)
        except Exception as error:  # noqa: BLE001 - any failure refuses the config
            raise Err(f"{type(error).__name__}: {error}") from None

    def process(self, batch, context):
        if _stage is None:
            return [types.Outcome_Rejected("the stage was not initialised")] * len(batch.value_ends)
        records = split_batch(batch.values, batch.value_ends, batch.keys, batch.key_ends, batch.timestamps)
        ctx = Context(context.processing_time_ms)
        return [_lower(verdict(_stage, record, ctx)) for record in records]
