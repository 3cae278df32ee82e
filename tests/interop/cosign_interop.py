#!/usr/bin/env python3
"""An independent implementation of cosign's key-based blob signing, built
on Python's `cryptography` (ECDSA P-256, SHA-256, DER, base64) and `pynacl`
(cosign's scrypt + nacl/secretbox private-key encryption). The Rust
end-to-end tests drive it to show that Helmdeck's keys and signatures and
cosign's interoperate in both directions.

    cosign_interop.py verify PUB.pem BLOB SIG            exit 0 when the signature verifies
    cosign_interop.py sign KEY PASSWORD BLOB OUT [high|low]
                                                         sign with an encrypted cosign key; force the S half
    cosign_interop.py generate PREFIX PASSWORD           write PREFIX.key (encrypted) and PREFIX.pub
"""

import base64
import hashlib
import json
import os
import sys

import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
LABELS = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT = {"N": 65536, "r": 8, "p": 1}


def pem_body(text, label):
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if begin not in text:
        return None
    return base64.b64decode("".join(text.split(begin, 1)[1].split(end, 1)[0].split()))


def kdf(password, salt, params):
    return hashlib.scrypt(password.encode(), salt=salt, n=params["N"], r=params["r"], p=params["p"],
                          maxmem=512 * 1024 * 1024, dklen=32)


def load_private(path, password):
    text = open(path).read()
    body = next((b for b in (pem_body(text, label) for label in LABELS) if b is not None), None)
    if body is None:
        raise SystemExit(f"{path}: not an encrypted cosign private key")
    envelope = json.loads(body)
    assert envelope["kdf"]["name"] == "scrypt" and envelope["cipher"]["name"] == "nacl/secretbox", envelope
    key = kdf(password, base64.b64decode(envelope["kdf"]["salt"]), envelope["kdf"]["params"])
    der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(envelope["ciphertext"]),
                                             base64.b64decode(envelope["cipher"]["nonce"]))
    return serialization.load_der_private_key(der, password=None)


def sign(key_path, password, blob_path, out_path, half="any"):
    key = load_private(key_path, password)
    blob = open(blob_path, "rb").read()
    r, s = decode_dss_signature(key.sign(blob, ec.ECDSA(hashes.SHA256())))
    high = s > P256_ORDER // 2
    if (half == "high" and not high) or (half == "low" and high):
        s = P256_ORDER - s  # the other valid signature for the same (r, message)
    with open(out_path, "w") as f:
        f.write(base64.b64encode(encode_dss_signature(r, s)).decode())


def verify(pub_path, blob_path, sig_path):
    key = serialization.load_pem_public_key(open(pub_path, "rb").read())
    signature = base64.b64decode(open(sig_path).read().strip())
    try:
        key.verify(signature, open(blob_path, "rb").read(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        print("signature does not verify", file=sys.stderr)
        return 1
    print("verified")
    return 0


def generate(prefix, password):
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    ciphertext = nacl.secret.SecretBox(kdf(password, salt, SCRYPT)).encrypt(der, nonce).ciphertext
    envelope = {
        "kdf": {"name": "scrypt", "params": SCRYPT, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    body = base64.encodebytes(json.dumps(envelope).encode()).decode()
    with open(prefix + ".key", "w") as f:
        f.write(f"-----BEGIN {LABELS[0]}-----\n{body}-----END {LABELS[0]}-----\n")
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(prefix + ".pub", "wb") as f:
        f.write(pub)


def main(argv):
    if argv[:1] == ["verify"] and len(argv) == 4:
        return verify(*argv[1:])
    if argv[:1] == ["sign"] and len(argv) in (5, 6):
        sign(*argv[1:])
        return 0
    if argv[:1] == ["generate"] and len(argv) == 3:
        generate(*argv[1:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
