"""Check the proxy's crypto output with independent implementations, and make some for it.

Reads the JSON case file that tests/crypto_interop.rs writes, decrypts and verifies every value
with the `cryptography` package and `hashlib`, then writes values made here to the output path
so that the Rust test can decrypt them. Exits 0 when every check passes, 1 on a mismatch and
3 when the `cryptography` package is missing.
"""

import base64
import hashlib
import hmac
import json
import os
import sys

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
except ImportError:
    print(
        "the Python package `cryptography` is missing for "
        f"{sys.executable}; run `{sys.executable} -m pip install cryptography` "
        "or point NBSP_PYTHON at a Python that has it",
        file=sys.stderr,
    )
    sys.exit(3)

try:
    # Recent releases (48 and 50 checked) keep CFB8 among the "decrepit" modes and warn on
    # the old import path.
    from cryptography.hazmat.decrepit.ciphers.modes import CFB8
except ImportError:
    CFB8 = modes.CFB8

OAEP_SHA1 = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None
)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def verify_django(password, encoded):
    algorithm, iterations, salt, _ = encoded.split("$", 3)
    digest = {"pbkdf2_sha256": "sha256", "pbkdf2_sha1": "sha1"}[algorithm]
    derived = hashlib.pbkdf2_hmac(digest, password, salt.encode("ascii"), int(iterations))
    expected = f"{algorithm}${iterations}${salt}${base64.b64encode(derived).decode('ascii')}"
    return hmac.compare_digest(expected, encoded)


def cfb8(key, iv):
    return Cipher(algorithms.AES(key), CFB8(iv))


def padded_length(n):
    return 64 if n + 2 <= 64 else (n + 2 + 15) // 16 * 16


def decrypt_secret(key, stored):
    decryptor = cfb8(key, stored[:16]).decryptor()
    padded = decryptor.update(stored[16:]) + decryptor.finalize()
    length = padded[0] * 256 + padded[1]
    return padded[2 : 2 + length]


def encrypt_secret(key, plaintext):
    data = plaintext.encode("utf-8")
    header = len(data).to_bytes(2, "big")
    filler = os.urandom(padded_length(len(data)) - 2 - len(data))
    iv = os.urandom(16)
    encryptor = cfb8(key, iv).encryptor()
    return iv + encryptor.update(header + data + filler) + encryptor.finalize()


def check_rust_output(cases):
    private_key = serialization.load_pem_private_key(
        cases["private_key_pem"].encode("ascii"), password=None
    )
    master_key = bytes.fromhex(cases["master_key_hex"])
    oaep_plain = private_key.decrypt(bytes.fromhex(cases["master_key_cipher_hex"]), OAEP_SHA1)
    check(oaep_plain == master_key, "OAEP copy does not decrypt to the master key")

    for secret in cases["secrets"]:
        plaintext = secret["plaintext"].encode("utf-8")
        stored = bytes.fromhex(secret["ciphertext_hex"])
        check(len(stored) == 16 + padded_length(len(plaintext)), f"length of {secret['name']}")
        check(decrypt_secret(master_key, stored) == plaintext, f"decryption of {secret['name']}")
        check(verify_django(plaintext, secret["hash"]), f"hash of {secret['name']}")

    for entry in cases["django_hashes"]:
        check(verify_django(entry["password"].encode("utf-8"), entry["hash"]), entry["hash"])
        check(not verify_django(b"wrong", entry["hash"]), f"wrong password accepted: {entry}")

    session_key = bytes.fromhex(cases["session_key_hex"])
    check(
        base64.b64encode(session_key).decode("ascii") == cases["session_key_base64"],
        "session key base64",
    )
    xored = bytes(a ^ b for a, b in zip(session_key, master_key))
    check(xored.hex() == cases["session_cipher_hex"], "session key cipher")

    tag, salt, mac = cases["session_hash"].split("$")
    expected_mac = hmac.new(salt.encode("ascii"), session_key, "sha256").digest()
    check(tag == "hmac_sha256", "session hash tag")
    check(base64.b64decode(mac) == expected_mac, "session hash HMAC")
    return private_key, master_key


def make_python_output(private_key, master_key):
    public_key = private_key.public_key()
    plaintexts = ["python ascii", "pässwörd ✓ 🔑", "b" * 63, "c" * 1000]
    salt = base64.b64encode(os.urandom(16)).decode("ascii").replace("+", "x").replace("/", "y")[:22]
    derived = hashlib.pbkdf2_hmac("sha256", b"from python", salt.encode("ascii"), 1000)
    return {
        "master_key_cipher_hex": public_key.encrypt(master_key, OAEP_SHA1).hex(),
        "secrets": [
            {"plaintext": p, "ciphertext_hex": encrypt_secret(master_key, p).hex()}
            for p in plaintexts
        ],
        "django_hash": f"pbkdf2_sha256$1000${salt}${base64.b64encode(derived).decode('ascii')}",
    }


def main():
    case_path, output_path = sys.argv[1], sys.argv[2]
    with open(case_path, encoding="utf-8") as case_file:
        cases = json.load(case_file)

    private_key, master_key = check_rust_output(cases)
    with open(output_path, "w", encoding="utf-8") as output_file:
        json.dump(make_python_output(private_key, master_key), output_file)

    for failure in failures:
        print(f"mismatch: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
