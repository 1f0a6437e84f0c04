"""An independent reader of TensorBoard event files (no TensorFlow): checks every TFRecord's
masked CRC-32C and decodes the Event protobuf messages with a hand-written varint parser.
Prints one JSON object per event: {"step", "wall_time", "file_version"?, "session_start"?,
"values": {tag: simple_value}}. Usage: python3 read_tfevents.py FILE"""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = 0
    value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """(field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(buf):
        k, i = varint(buf, i)
        field, wire = k >> 3, k & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v = buf[i:i + 8]
            i += 8
        elif wire == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wire == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, v


def event(buf):
    out = {"values": {}}
    for field, wire, v in fields(buf):
        if field == 1 and wire == 1:
            out["wall_time"] = struct.unpack("<d", v)[0]
        elif field == 2 and wire == 0:
            out["step"] = v
        elif field == 3 and wire == 2:
            out["file_version"] = v.decode("utf8")
        elif field == 5 and wire == 2:
            for f, w, value in fields(v):
                assert f == 1 and w == 2
                tag = None
                simple = None
                for vf, vw, vv in fields(value):
                    if vf == 1:
                        tag = vv.decode("utf8")
                    elif vf == 2 and vw == 5:
                        simple = struct.unpack("<f", vv)[0]
                out["values"][tag] = simple
        elif field == 6 and wire == 2:
            status = dict((f, v) for f, _, v in fields(v)).get(1)
            out["session_start"] = status == 1
    return out


def main(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[i + 8:i + 12])
        if crc != masked(header):
            raise SystemExit("bad length crc at %d" % i)
        body = data[i + 12:i + 12 + length]
        (crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        if crc != masked(body):
            raise SystemExit("bad data crc at %d" % i)
        print(json.dumps(event(body)))
        i += 16 + length


main(sys.argv[1])
