"""The Python codec against the golden vectors, and its error accounting."""

import pytest

from firmware_bridge.codec import (
    MAX_ENCODED_BYTES,
    ClockReply,
    Command,
    FrameDecoder,
    MsgType,
    SampleBatch,
    crc16,
    decode_body,
    encode_body,
    encode_frame,
)
from tests.helpers import load_vectors, message_from_json

VECTORS = load_vectors()


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue's check value


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_encoder_matches_golden_frame(vector):
    assert encode_frame(message_from_json(vector["message"])).hex() == vector["frame"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_decoder_reads_golden_frame(vector):
    decoder = FrameDecoder()
    (msg,) = decoder.feed(bytes.fromhex(vector["frame"]))
    # Scales travel as float32: compare by re-encoding, which must be exact.
    assert encode_frame(msg).hex() == vector["frame"]
    assert decoder.counters.frames == 1
    assert decoder.counters.dropped_bytes == 0


def test_sample_values_round_trip():
    v = next(v for v in VECTORS if v["name"] == "samples_force_int16")
    hello = message_from_json(
        next(x for x in VECTORS if x["name"] == "hello_force_plate")["message"]
    )
    (batch,) = FrameDecoder().feed(bytes.fromhex(v["frame"]))
    assert isinstance(batch, SampleBatch)
    raw = batch.raw(hello.streams[0])
    assert raw.tolist() == v["message"]["values"]
    assert (batch.first_sample, batch.mcu_time_us) == (1000, 123456789)


def test_frames_split_anywhere_and_back_to_back():
    stream = b"".join(bytes.fromhex(v["frame"]) for v in VECTORS)
    decoder = FrameDecoder()
    got = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert len(got) == len(VECTORS)


def test_flipped_bit_is_a_crc_error_and_decoder_recovers():
    frame = bytearray(encode_frame(ClockReply(7, 1234)))
    frame[3] ^= 0x10
    good = encode_frame(ClockReply(8, 5678))
    decoder = FrameDecoder()
    assert decoder.feed(bytes(frame) + good) == [ClockReply(8, 5678)]
    assert decoder.counters.crc_errors == 1
    assert decoder.counters.dropped_bytes == len(frame)


def test_garbage_then_frame():
    decoder = FrameDecoder()
    msgs = decoder.feed(b"$GPGGA,123519,4807.038,N*47\r\n\x00" + encode_frame(ClockReply(1, 2)))
    assert msgs == [ClockReply(1, 2)]
    assert decoder.counters.malformed + decoder.counters.crc_errors == 1


def test_overlong_run_without_delimiter_is_dropped_and_counted():
    decoder = FrameDecoder()
    junk = b"\x55" * (MAX_ENCODED_BYTES + 10)
    assert decoder.feed(junk) == []
    tail = b"\x55" * 5 + b"\x00"  # the rest of that run, up to its delimiter
    good = encode_frame(ClockReply(3, 4))
    assert decoder.feed(tail + good) == [ClockReply(3, 4)]
    assert decoder.counters.dropped_bytes == len(junk) + len(tail)


def test_newer_protocol_version_is_recognised_not_parsed():
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(ClockReply(1, 2), version=2)) == []
    assert decoder.counters.unsupported_version == 1
    assert decoder.newest_unsupported_version == 2


def test_unknown_message_type_and_bad_payloads_are_malformed():
    from cobs import cobs

    body = bytes([1, 0x42, 1, 2])
    frame = cobs.encode(body + crc16(body).to_bytes(2, "little")) + b"\x00"
    short_clock = encode_body(ClockReply(1, 2))[:-4]  # payload cut short
    frame2 = cobs.encode(short_clock + crc16(short_clock).to_bytes(2, "little")) + b"\x00"
    decoder = FrameDecoder()
    assert decoder.feed(frame + frame2) == []
    assert decoder.counters.malformed == 2


def test_decode_body_rejects_sample_data_not_dividing_into_samples():
    body = encode_body(SampleBatch(0, 0, 0, 0, 3, b"\x01\x02\x03\x04"))[:-2]
    with pytest.raises(Exception, match="do not divide"):
        decode_body(body)


def test_command_round_trip():
    cmd = Command(MsgType.TARE, 9, 3)
    assert FrameDecoder().feed(encode_frame(cmd)) == [cmd]
