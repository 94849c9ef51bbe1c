"""The data key (crypto-shredding, docs/RETENTION.md): personal data is encrypted under keys
derived from a data key kept in a file of its own, the audit chain under keys derived from the
master secret. Destroying the data key at the end of the programme makes every copy of the
ciphertext unreadable while the audit log stays verifiable."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from hesuan.adapters.crypto import KeyRing, load_data_key
from hesuan.config import Settings

MASTER, OTHER_MASTER = b"m" * 32, b"n" * 32
DATA, OTHER_DATA = b"d" * 32, b"e" * 32


def test_the_audit_keys_do_not_change_with_the_data_key() -> None:
    one, two = KeyRing(MASTER, DATA), KeyRing(MASTER, OTHER_DATA)
    assert one.audit_chain_key == two.audit_chain_key
    assert one.audit_checkpoint_key == two.audit_checkpoint_key
    # ... while everything that reads personal data does
    assert one.code_key != two.code_key
    assert one.lookup_hash("a") != two.lookup_hash("a")
    with pytest.raises(InvalidTag):
        two.decrypt(one.encrypt("张三"))


def test_the_personal_data_keys_do_not_depend_on_the_master_secret() -> None:
    one, two = KeyRing(MASTER, DATA), KeyRing(OTHER_MASTER, DATA)
    assert two.decrypt(one.encrypt("张三")) == "张三"
    assert one.lookup_hash("a") == two.lookup_hash("a") and one.code_key == two.code_key
    assert one.audit_chain_key != two.audit_chain_key
    # the master secret alone reads nothing encrypted under the data key
    with pytest.raises(InvalidTag):
        KeyRing(MASTER).decrypt(one.encrypt("张三"))


def test_without_a_data_key_the_legacy_keys_derive_from_the_master_secret() -> None:
    # what a database made before data key files holds: AES-GCM under HKDF(master)
    legacy = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hesuan-v1",
                  info=b"personal-data").derive(MASTER)
    blob = KeyRing(MASTER).encrypt("张三")
    assert AESGCM(legacy).decrypt(blob[:12], blob[12:], None) == "张三".encode()
    assert KeyRing(MASTER, None).audit_chain_key == KeyRing(MASTER, DATA).audit_chain_key


def test_the_data_key_file_is_made_once_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data.key"
    assert load_data_key(path, create=False) is None and not path.exists()
    old = os.umask(0o022)
    try:
        made = load_data_key(path, create=True)
    finally:
        os.umask(old)
    assert made is not None and len(made) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text()) == made
    assert load_data_key(path, create=True) == made  # read, not made again
    assert load_data_key(path, create=False) == made
    assert [p.name for p in path.parent.iterdir()] == ["data.key"]  # no temporary file left


def test_a_data_key_file_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.key"
    path.write_text(base64.b64encode(b"short").decode())
    with pytest.raises(RuntimeError, match="32 bytes"):
        load_data_key(path, create=True)


def test_the_data_key_file_is_not_the_master_key_file(tmp_path: Path) -> None:
    # the close destroys the data key file: never the one the audit chain's keys come from
    with pytest.raises(ValidationError, match="HESUAN_DATA_KEY_FILE"):
        Settings(key_file=tmp_path / "k", data_key_file=tmp_path / "k")
    # unset, it is named after the key file: two secrets' databases never share one
    assert Settings(key_file=tmp_path / "secret.key").data_key_path \
        == tmp_path / "secret.data.key"
    assert Settings(key_file=tmp_path / "demo-secret.key").data_key_path \
        == tmp_path / "demo-secret.data.key"
