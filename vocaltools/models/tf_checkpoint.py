"""Read a TensorFlow checkpoint (the V2 "tensor bundle": ``PREFIX.index`` and
``PREFIX.data-00000-of-00001``) into numpy arrays, without TensorFlow.

The index is a LevelDB-format table, uncompressed as TensorFlow writes it: a footer points to an
index block whose entries point to data blocks; each data-block entry maps a variable name to a
``BundleEntryProto`` (dtype, shape, shard, offset and size of its bytes in the data file). Only
what TensorFlow's bundle writer produces is handled: uncompressed tables, one or more shards,
whole (unsliced) tensors of numeric dtypes. Anything else is refused with a :class:`ModelError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from vocaltools.errors import ModelError

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
#: TensorFlow DataType enum -> numpy dtype (little-endian)
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "<u1", 5: "<i2", 6: "<i1", 9: "<i8", 10: "?",
           14: "<u2", 17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8"}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ModelError("truncated varint in a TensorFlow checkpoint index")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _block(table: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of the block at ``offset`` (its 5-byte trailer follows it)."""
    if offset + size + 5 > len(table):
        raise ModelError("a TensorFlow checkpoint index block lies outside the file")
    if table[offset + size] != 0:
        raise ModelError("compressed TensorFlow checkpoint index blocks are not supported")
    block = table[offset:offset + size]
    (n_restarts,) = struct.unpack_from("<I", block, size - 4)
    end = size - 4 - 4 * n_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def _fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message (varint, fixed and length fields)."""
    out, pos = [], 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", message, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            value, pos = message[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", message, pos)[0], pos + 4
        else:
            raise ModelError(f"unsupported protobuf wire type {wire} in a TensorFlow checkpoint")
        out.append((number, value))
    return out


def _entry(name: str, message: bytes) -> dict:
    entry = {"dtype": 0, "shape": [], "shard": 0, "offset": 0, "size": 0}
    for number, value in _fields(message):
        if number == 1:
            entry["dtype"] = value
        elif number == 2:
            entry["shape"] = [next((v for n, v in _fields(dim) if n == 1), 0)
                              for n, dim in _fields(value) if n == 2]
        elif number == 3:
            entry["shard"] = value
        elif number == 4:
            entry["offset"] = value
        elif number == 5:
            entry["size"] = value
        elif number == 7:
            raise ModelError(f"{name}: sliced TensorFlow variables are not supported")
    return entry


def read_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (the path without ``.index``), by variable name."""
    prefix = str(prefix)
    try:
        table = Path(prefix + ".index").read_bytes()
    except OSError as error:
        raise ModelError(f"{prefix}.index: {error.strerror or error}") from error
    if len(table) < _FOOTER or struct.unpack_from("<Q", table, len(table) - 8)[0] != _MAGIC:
        raise ModelError(f"{prefix}.index is not a TensorFlow checkpoint index")
    pos = len(table) - _FOOTER
    _, pos = _varint(table, pos)  # metaindex handle: unused (no filters)
    _, pos = _varint(table, pos)
    index_offset, pos = _varint(table, pos)
    index_size, pos = _varint(table, pos)
    entries: dict[str, dict] = {}
    n_shards = 1
    for _, handle in _block(table, index_offset, index_size):
        offset, at = _varint(handle, 0)
        size, _ = _varint(handle, at)
        for key, value in _block(table, offset, size):
            if key == b"":  # BundleHeaderProto: num_shards = 1
                n_shards = dict(_fields(value)).get(1, 1)
                continue
            name = key.decode("utf-8")
            entries[name] = _entry(name, value)
    shards: dict[int, bytes] = {}
    tensors = {}
    for name, entry in entries.items():
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ModelError(f"{name}: TensorFlow dtype {entry['dtype']} is not supported")
        shard = entry["shard"]
        if shard not in shards:
            path = f"{prefix}.data-{shard:05d}-of-{n_shards:05d}"
            try:
                shards[shard] = Path(path).read_bytes()
            except OSError as error:
                raise ModelError(f"{path}: {error.strerror or error}") from error
        data = shards[shard]
        start, size = entry["offset"], entry["size"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if start + size > len(data) or count * np.dtype(dtype).itemsize != size:
            raise ModelError(f"{name}: its bytes do not match its shape in {prefix}")
        tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(
            entry["shape"]).copy()
    return tensors
