"""keg: structured output for scripts run by keg (docs/usage.md "Runs").

Standard library only (a fresh box has no PyYAML), Python 3.8+.

    import keg
    keg.output({"loss": 0.1})                      # JSON, the default
    keg.output(b"\\x00\\x01", keg.Encoders.RAW)
    keg.output({"a": [1, 2]}, keg.Encoders.YAML)

Each call writes one record to the file descriptor named by
KEG_OUTPUT_CHANNEL: 1 byte encoder, 4 bytes big-endian payload length, then
the payload. Run outside keg, output() prints the value to stderr instead.
"""

import enum
import json
import math
import os
import pickle
import re
import struct
import sys
import threading

__all__ = ["Encoders", "output", "process_id", "MAX_PAYLOAD"]


class Encoders(enum.IntEnum):
    RAW = 1
    PICKLE = 2
    JSON = 3
    YAML = 4


MAX_PAYLOAD = 16 * 1024 * 1024

_write_lock = threading.Lock()


def process_id():
    """The keg run id, or None outside keg."""
    return os.environ.get("KEG_PROCESS_ID")


def output(value, encoder=Encoders.JSON):
    """Send one structured record (value, encoded with encoder) to the keg CLI."""
    encoder = _encoder(encoder)
    payload = _encode(value, encoder)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(
            "keg.output: record is %d bytes; the limit is %d bytes (16 MiB)" % (len(payload), MAX_PAYLOAD)
        )
    channel = os.environ.get("KEG_OUTPUT_CHANNEL")
    if not channel:
        _show(value, encoder, len(payload))
        return
    try:
        fd = int(channel)
    except ValueError:
        raise ValueError("keg.output: KEG_OUTPUT_CHANNEL=%r is not a file descriptor number" % channel) from None
    record = memoryview(struct.pack(">BI", int(encoder), len(payload)) + payload)
    # One lock for the whole record: records from several threads must not interleave.
    with _write_lock:
        while record:
            record = record[os.write(fd, record):]


def _encoder(encoder):
    if isinstance(encoder, str):
        name = encoder.upper()
        if name in Encoders.__members__:
            return Encoders[name]
    else:
        try:
            return Encoders(encoder)
        except ValueError:
            pass
    raise ValueError("keg.output: unknown encoder %r (use keg.Encoders.JSON, YAML, PICKLE or RAW)" % (encoder,))


def _encode(value, encoder):
    if encoder == Encoders.RAW:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError(
            "keg.output: RAW takes bytes, bytearray, memoryview or str, not %s" % type(value).__name__
        )
    if encoder == Encoders.PICKLE:
        return pickle.dumps(value, protocol=4)
    if encoder == Encoders.JSON:
        try:
            return json.dumps(value, default=_not_json).encode("utf-8")
        except TypeError as error:
            if str(error).startswith("keg.output"):
                raise
            raise TypeError("keg.output: cannot encode as JSON: %s" % error) from None
    return _to_yaml(value).encode("utf-8")


def _not_json(value):
    raise TypeError(
        "keg.output: %s is not JSON serializable; convert it to dict, list, str, int, float, bool or None,"
        " or use encoder=keg.Encoders.PICKLE" % type(value).__name__
    )


def _show(value, encoder, size):
    if encoder == Encoders.RAW:
        text = "%d bytes" % size
    else:
        text = repr(value)
    sys.stderr.write("keg.output [%s, not run by keg]: %s\n" % (encoder.name.lower(), text))
    sys.stderr.flush()


# --- YAML: a small emitter for plain data, block style, YAML 1.2 core schema.

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./ -]*\Z")
# Words some YAML reader would take for something other than a string.
_RESERVED = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf", "infinity"}
# Everything outside YAML's printable set, plus the characters a double-quoted scalar must escape.
_UNSAFE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\"\\\\\u2028\u2029\ufeff]")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
# YAML allows at most 1024 characters in an implicit key; longer ones use '? key'.
_MAX_IMPLICIT_KEY = 1000


def _to_yaml(value):
    lines = []
    _yaml_node(value, 0, lines, set())
    return "\n".join(lines) + "\n"


def _yaml_node(value, indent, lines, active):
    """Append the lines of value at indent; a scalar or empty collection is one line."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        _enter(value, active)
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("keg.output: YAML needs str dict keys, not %s" % type(key).__name__)
            text = _yaml_str(key)
            if len(text) > _MAX_IMPLICIT_KEY:
                lines.append(pad + "? " + text)
                _yaml_compact(":", item, indent, lines, active)
            elif _is_block(item):
                lines.append(pad + text + ":")
                _yaml_node(item, indent + 2, lines, active)
            else:
                lines.append(pad + text + ": " + _yaml_scalar(item))
        active.discard(id(value))
    elif isinstance(value, (list, tuple)) and value:
        _enter(value, active)
        for item in value:
            _yaml_compact("-", item, indent, lines, active)
        active.discard(id(value))
    else:
        lines.append(pad + _yaml_scalar(value))


def _yaml_compact(indicator, item, indent, lines, active):
    """'- item' or ': item', a nested collection starting on the indicator's line."""
    pad = " " * indent
    if not _is_block(item):
        lines.append(pad + indicator + " " + _yaml_scalar(item))
        return
    start = len(lines)
    _yaml_node(item, indent + 2, lines, active)
    lines[start] = pad + indicator + " " + lines[start][indent + 2 :]


def _is_block(value):
    return isinstance(value, (dict, list, tuple)) and len(value) > 0


def _enter(value, active):
    if id(value) in active:
        raise ValueError("keg.output: circular reference, cannot encode as YAML")
    active.add(id(value))


def _yaml_scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return float.__repr__(value)
    if isinstance(value, str):
        return _yaml_str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    raise TypeError(
        "keg.output: %s cannot be encoded as YAML (plain data only: dict, list, tuple, str, int, float,"
        " bool, None); use encoder=keg.Encoders.PICKLE" % type(value).__name__
    )


def _yaml_str(text):
    if _PLAIN.match(text) and not text.endswith(" ") and text.lower() not in _RESERVED:
        return text
    return '"' + _UNSAFE.sub(_escape, text) + '"'


def _escape(match):
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code
