"""The Confluent wire header: framing and the header-level decode errors."""

from __future__ import annotations

import pytest

from worker.codec import HEADER_SIZE, MAGIC, DecodeError, EncodeError, frame, unframe


def test_frame_layout_is_magic_then_big_endian_id_then_body() -> None:
    value = frame(0x01020304, b"body")
    assert value == bytes([MAGIC, 1, 2, 3, 4]) + b"body"
    schema_id, body = unframe(value)
    assert schema_id == 0x01020304
    assert bytes(body) == b"body"
    assert HEADER_SIZE == 5


def test_unframe_does_not_copy_the_body() -> None:
    value = frame(7, b"xyz")
    _, body = unframe(value)
    assert isinstance(body, memoryview) and body.obj is value


def test_header_alone_has_an_empty_body() -> None:
    schema_id, body = unframe(frame(2, b""))
    assert (schema_id, len(body)) == (2, 0)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\x00\x00\x00", "too_short"),
        (b"\x00\x00\x00\x00", "too_short"),
        (b"\x01\x00\x00\x00\x02body", "wrong_magic_byte"),
        (b'{"transaction_id": 1}', "wrong_magic_byte"),
    ],
)
def test_bad_headers(value: bytes | None, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        unframe(value)
    assert caught.value.code == code


def test_messages_never_quote_the_payload() -> None:
    secret = b"\x01\x00\x00\x00\x02card=4111111111111111"
    with pytest.raises(DecodeError) as caught:
        unframe(secret)
    assert "4111" not in str(caught.value)


@pytest.mark.parametrize("schema_id", [-1, 2**31])
def test_frame_rejects_ids_the_registry_cannot_have(schema_id: int) -> None:
    with pytest.raises(EncodeError):
        frame(schema_id, b"")
