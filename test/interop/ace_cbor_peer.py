#!/usr/bin/python3
"""An independent CBOR peer for the ACE message tests: Debian's cbor2, and a small parser of CBOR
diagnostic notation (RFC 8949 §8, RFC 8610 Appendix G) written out here, sharing no code with
keybound. It turns the RFC figures' diagnostic notation into bytes, and says what CBOR major type
every value of a keybound message has. Reads one JSON request on stdin, writes one JSON answer.

  {"op": "encode", "diag": "{ 5: \"tempSensor4711\", 24: \"myclient\" }"}
      -> {"hex": "a2056e..."}
  {"op": "decode", "hex": "a2..."}
      -> {"value": typed, "deterministic": bool}
     typed: {"t": "uint"|"nint", "v": n} | {"t": "bstr", "hex": h} | {"t": "tstr", "v": s}
          | {"t": "bool", "v": b} | {"t": "null"} | {"t": "undefined"} | {"t": "float", "v": f}
          | {"t": "array", "v": [typed...]} | {"t": "map", "v": [[typed key, typed value]...]}
          | {"t": "tag", "tag": n, "v": typed}
     deterministic: every map's keys in bytewise order of their encodings (RFC 8949 §4.2.1).
"""
import base64
import io
import json
import re
import sys

import cbor2


class Diag:
    """A recursive-descent parser for the diagnostic notation the RFC figures use: maps, arrays,
    integers, text, h'' and b64'' byte strings, true/false/null, tags, and /comments/."""

    def __init__(self, text):
        self.s = text
        self.i = 0

    def skip(self):
        while self.i < len(self.s):
            c = self.s[self.i]
            if c.isspace():
                self.i += 1
            elif c == "/":
                end = self.s.index("/", self.i + 1)
                self.i = end + 1
            else:
                break

    def peek(self):
        self.skip()
        return self.s[self.i] if self.i < len(self.s) else ""

    def expect(self, ch):
        if self.peek() != ch:
            raise ValueError(f"expected {ch!r} at {self.i}: {self.s[self.i:self.i + 20]!r}")
        self.i += 1

    def value(self):
        c = self.peek()
        if c == "{":
            self.i += 1
            out = {}
            while self.peek() != "}":
                k = self.value()
                self.expect(":")
                if k in out:
                    raise ValueError(f"duplicate key {k!r}")
                out[k] = self.value()
                if self.peek() == ",":
                    self.i += 1
            self.i += 1
            return out
        if c == "[":
            self.i += 1
            out = []
            while self.peek() != "]":
                out.append(self.value())
                if self.peek() == ",":
                    self.i += 1
            self.i += 1
            return out
        if c == '"':
            m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(self.s, self.i)
            self.i = m.end()
            return json.loads('"' + m.group(1) + '"')
        for prefix, decode in (("h'", bytes.fromhex), ("b64'", b64)):
            if self.s.startswith(prefix, self.i):
                end = self.s.index("'", self.i + len(prefix))
                body = re.sub(r"\s+", "", self.s[self.i + len(prefix):end])
                self.i = end + 1
                return decode(body)
        for word, v in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return v
        m = re.compile(r"-?\d+").match(self.s, self.i)
        if not m:
            raise ValueError(f"cannot read a value at {self.i}: {self.s[self.i:self.i + 20]!r}")
        self.i = m.end()
        n = int(m.group(0))
        if self.s.startswith("(", self.i):
            self.i += 1
            inner = self.value()
            self.expect(")")
            return cbor2.CBORTag(n, inner)
        return n


def b64(text):
    """RFC 8610 G.3: b64'' is base64 or base64url, padding optional."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def encode(diag):
    p = Diag(diag)
    v = p.value()
    p.skip()
    if p.i != len(p.s):
        raise ValueError("text after the value")
    return cbor2.dumps(v)


def typed(v, ordered):
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "uint" if v >= 0 else "nint", "v": v}
    if isinstance(v, bytes):
        return {"t": "bstr", "hex": v.hex()}
    if isinstance(v, str):
        return {"t": "tstr", "v": v}
    if v is None:
        return {"t": "null"}
    if v is cbor2.undefined:
        return {"t": "undefined"}
    if isinstance(v, float):
        return {"t": "float", "v": v}
    if isinstance(v, list):
        return {"t": "array", "v": [typed(x, ordered) for x in v]}
    if isinstance(v, dict):
        keys = [cbor2.dumps(k) for k in v.keys()]
        if keys != sorted(keys):
            ordered[0] = False
        return {"t": "map", "v": [[typed(k, ordered), typed(x, ordered)] for k, x in v.items()]}
    if isinstance(v, cbor2.CBORTag):
        return {"t": "tag", "tag": v.tag, "v": typed(v.value, ordered)}
    raise ValueError(f"unexpected decoded type {type(v).__name__}")


def decode(hex_text):
    data = bytes.fromhex(hex_text)
    fp = io.BytesIO(data)
    v = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(data):
        raise ValueError("trailing bytes after the CBOR item")
    ordered = [True]
    return {"value": typed(v, ordered), "deterministic": ordered[0]}


def main():
    req = json.load(sys.stdin)
    try:
        if req["op"] == "encode":
            out = {"hex": encode(req["diag"]).hex()}
        elif req["op"] == "decode":
            out = decode(req["hex"])
        else:
            out = {"error": "unknown op"}
    except Exception as e:  # the test reads the reason
        out = {"error": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
