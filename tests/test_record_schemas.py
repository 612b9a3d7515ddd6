"""Every message of a recording validates against the JSON schema of its channel."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from test_record_scenario import record_operation


def test_every_recorded_message_matches_its_schema(tmp_path: Path) -> None:
    rec = read_recording(record_operation(tmp_path / "op.mcap", seconds=2.5).path)
    checked = 0
    for topic, messages in rec.messages.items():
        spec = ch.channel_spec(topic)
        validator = jsonschema.Draft202012Validator(spec.schema)
        for message in messages:
            validator.validate(message.data)
            checked += 1
    assert checked > 100 and ch.VIDEO in rec.messages and ch.VOICE_MIX in rec.messages


def test_the_schemas_themselves_are_valid() -> None:
    for spec in ch.CHANNELS.values():
        jsonschema.Draft202012Validator.check_schema(spec.schema)
