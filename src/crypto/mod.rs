//! Cryptography of the netbox-secrets storage formats: RSA-OAEP master-key copies, session keys, AES-256-CFB8 secrets and Django password hashes.
