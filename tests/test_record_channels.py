"""The recording's channel table: Foxglove schema names, JSON schemas, topic errors."""

from __future__ import annotations

import json

import pytest

from telesurgery.record import channels as ch


def test_foxglove_channels_use_the_well_known_schema_names() -> None:
    assert ch.channel_spec(ch.VIDEO).schema_name == "foxglove.CompressedVideo"
    assert ch.channel_spec(ch.LOG).schema_name == "foxglove.Log"
    assert ch.channel_spec(ch.TF).schema_name == "foxglove.FrameTransform"
    assert ch.channel_spec(ch.measured_cp_topic("PSM2")).schema_name == "foxglove.PoseInFrame"
    video = ch.channel_spec(ch.VIDEO).schema
    assert video["properties"]["data"]["contentEncoding"] == "base64"
    audio = ch.channel_spec(ch.VOICE_MIX)
    assert audio.schema_name == "foxglove.RawAudio"
    assert set(audio.schema["properties"]) == {
        "timestamp",
        "data",
        "format",
        "sample_rate",
        "number_of_channels",
    }
    assert audio.schema["properties"]["data"]["contentEncoding"] == "base64"


def test_every_schema_is_json_with_a_title() -> None:
    for spec in ch.CHANNELS.values():
        schema = json.loads(spec.schema_bytes)
        assert schema["title"] == spec.schema_name and schema["type"] == "object"
    for topic in ch.BATCH_TOPICS:
        assert "items" in ch.CHANNELS[topic].schema["properties"]


def test_unknown_topic_lists_the_valid_ones() -> None:
    with pytest.raises(ch.UnknownTopic, match="unknown topic '/nope': valid topics are /commands"):
        ch.channel_spec("/nope")


def test_foxglove_time_splits_seconds() -> None:
    assert ch.foxglove_time(12_000_000_345) == {"sec": 12, "nsec": 345}
