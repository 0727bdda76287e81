#!/usr/bin/python3
"""An independent COSE peer for interoperability tests: Debian's cbor2 for CBOR and OpenSSL
(python3-cryptography) for the primitives, with the RFC 9052 structures written out by hand
here, sharing no code with keybound. Reads one JSON request on stdin, writes one JSON answer.

  {"op": "verify", "kind": "sign1|mac0|encrypt0", "message": hex, "key": {...}}
      -> {"ok": true, "payload": hex, "claims": {...} | null}
  {"op": "sign-cwt", "claims": {label: value}, "key": {"d": hex}, "kid": hex}
      -> {"token": hex}   (COSE_Sign1, EdDSA, tag 61(18(...)))
"""
import json
import sys
import hmac
import hashlib

import cbor2
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESCCM


def untag(value, tag):
    if isinstance(value, cbor2.CBORTag) and value.tag == 61:
        value = value.value
    if isinstance(value, cbor2.CBORTag):
        if value.tag != tag:
            raise ValueError(f"expected tag {tag}, got {value.tag}")
        value = value.value
    return value


def jsonable(v):
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, cbor2.CBORTag):
        return {"tag": v.tag, "value": jsonable(v.value)}
    return v


def verify(req):
    key = req["key"]
    msg = cbor2.loads(bytes.fromhex(req["message"]))
    kind = req["kind"]
    if kind == "sign1":
        prot, unprot, payload, sig = untag(msg, 18)
        headers = cbor2.loads(prot)
        tbs = cbor2.dumps(["Signature1", prot, b"", payload])
        alg = headers[1]
        if alg == -8:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["x"])).verify(sig, tbs)
        elif alg == -7:
            pub = ec.EllipticCurvePublicNumbers(
                int(key["x"], 16), int(key["y"], 16), ec.SECP256R1()
            ).public_key()
            r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            pub.verify(utils.encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
        else:
            raise ValueError(f"alg {alg} not handled by the peer")
    elif kind == "mac0":
        prot, unprot, payload, tag = untag(msg, 17)
        headers = cbor2.loads(prot)
        if headers[1] != 4:
            raise ValueError("peer handles HMAC 256/64 only")
        tbm = cbor2.dumps(["MAC0", prot, b"", payload])
        expected = hmac.new(bytes.fromhex(key["k"]), tbm, hashlib.sha256).digest()[:8]
        if not hmac.compare_digest(expected, tag):
            raise InvalidTag()
    elif kind == "encrypt0":
        prot, unprot, ciphertext = untag(msg, 16)
        headers = cbor2.loads(prot)
        if headers[1] != 10:
            raise ValueError("peer handles AES-CCM-16-64-128 only")
        aad = cbor2.dumps(["Encrypt0", prot, b""])
        payload = AESCCM(bytes.fromhex(key["k"]), tag_length=8).decrypt(unprot[5], ciphertext, aad)
    else:
        raise ValueError(kind)
    claims = None
    try:
        decoded = cbor2.loads(payload)
        if isinstance(decoded, dict):
            claims = jsonable(decoded)
    except Exception:
        pass
    return {"ok": True, "payload": payload.hex(), "claims": claims}


def from_json(v):
    """{"bytes": hex} is a byte string; other objects are maps whose keys are integer labels."""
    if isinstance(v, dict):
        if set(v) == {"bytes"}:
            return bytes.fromhex(v["bytes"])
        return {int(k): from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def sign_cwt(req):
    claims = from_json(req["claims"])
    prot = cbor2.dumps({1: -8, 4: bytes.fromhex(req["kid"])})
    payload = cbor2.dumps(claims)
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
    sig = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(req["key"]["d"])).sign(tbs)
    token = cbor2.dumps(cbor2.CBORTag(61, cbor2.CBORTag(18, [prot, {}, payload, sig])))
    return {"token": token.hex()}


def main():
    req = json.load(sys.stdin)
    try:
        out = verify(req) if req["op"] == "verify" else sign_cwt(req)
    except (InvalidSignature, InvalidTag):
        out = {"ok": False, "error": "does not verify"}
    except Exception as e:  # report, don't crash: the test reads the reason
        out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
