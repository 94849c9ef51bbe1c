"""The audit chain's rules (``domain/audit.py``): keyed hashes, the legacy prefix, checkpoints
and the verdict of a check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hesuan.domain.audit import (
    GENESIS,
    AuditEntry,
    ChainCheck,
    ChainKey,
    Checkpoint,
    CheckpointKey,
    judge,
    plain_hash,
    signs,
    verify_chain,
)

KEY = ChainKey(b"k" * 32)
AT = "2022-08-29T00:00:00+00:00"


def _chain(n: int, key: ChainKey = KEY, legacy_upto: int = 0) -> list[AuditEntry]:
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        rule = plain_hash if i <= legacy_upto else key.entry_hash
        h = rule(prev, i, AT, "u", "a", "s", {"i": i})
        out.append(AuditEntry(i, AT, "u", "a", "s", {"i": i}, prev, h))
        prev = h
    return out


def _rehash(entries: list[AuditEntry], from_seq: int, rule: object) -> list[AuditEntry]:
    """Every hash from ``from_seq`` on recomputed with ``rule`` (an attacker's replay)."""
    out, prev = [], GENESIS
    for e in entries:
        if e.seq >= from_seq:
            e = replace(e, prev_hash=prev,
                        hash=rule(prev, e.seq, e.at, e.actor, e.action,  # type: ignore[operator]
                                  e.subject, e.detail))
        out.append(e)
        prev = e.hash
    return out


def test_an_intact_chain_replays_to_its_head() -> None:
    chain = _chain(5)
    assert verify_chain(chain, KEY) == ChainCheck(5, chain[-1].hash)
    # in pages: the replay carries on from where the last page ended
    first = verify_chain(chain[:2], KEY)
    assert verify_chain(chain[2:], KEY, first) == ChainCheck(5, chain[-1].hash)


def test_an_edited_entry_breaks_the_chain_at_its_seq() -> None:
    chain = _chain(5)
    chain[2] = replace(chain[2], detail={"i": 99})
    assert verify_chain(chain, KEY).broken_at == 3


@pytest.mark.parametrize("gone", [1, 3, 5])
def test_a_missing_entry_is_reported_at_its_own_seq(gone: int) -> None:
    chain = [e for e in _chain(5) if e.seq != gone]
    check = verify_chain(chain, KEY)
    # the last one cannot be missed by the chain alone: the head just ends earlier
    assert check.broken_at == (gone if gone < 5 else None)
    assert check.seq == gone - 1


@pytest.mark.parametrize("rule", [plain_hash, ChainKey(b"a guessed key, 32 bytes long.....").
                                  entry_hash], ids=["plain-sha256", "guessed-key"])
def test_a_chain_recomputed_without_the_key_fails_at_the_first_changed_entry(
        rule: object) -> None:
    chain = _chain(6)
    chain[3] = replace(chain[3], detail={"i": 0})
    assert verify_chain(_rehash(chain, 4, rule), KEY).broken_at == 4


def test_the_legacy_prefix_uses_the_plain_rule_and_the_first_keyed_entry_seals_it() -> None:
    chain = _chain(6, legacy_upto=3)
    assert verify_chain(chain, KEY, legacy_upto=3).broken_at is None
    assert verify_chain(chain, KEY, legacy_upto=0).broken_at == 1  # boundary lowered: caught
    # a legacy entry changed and the plain hashes after it recomputed: entry 4 (keyed) covers
    # entry 3's hash, and re-hashing it needs the key
    edited = chain[:]
    edited[1] = replace(edited[1], detail={"i": 0})
    assert verify_chain(_rehash(edited, 2, plain_hash), KEY, legacy_upto=3).broken_at == 4


def test_the_chain_key_must_be_long() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ChainKey(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        CheckpointKey(b"short")


def test_a_checkpoint_signature_covers_every_field() -> None:
    key = CheckpointKey(b"c" * 32)
    cp = Checkpoint(12, "ab" * 32, AT)
    mac = key.sign(cp)
    assert key.valid(cp, mac)
    assert not CheckpointKey(b"d" * 32).valid(cp, mac)
    for other in (replace(cp, seq=11), replace(cp, head="cd" * 32),
                  replace(cp, at="2022-08-30T00:00:00+00:00")):
        assert not key.valid(other, mac)


def test_the_verdict() -> None:
    intact, broken = ChainCheck(10, "h10"), ChainCheck(4, "h4", broken_at=5)
    cp = Checkpoint(8, "h8", AT)
    assert judge(intact, 10, "h8", cp, ()) == "intact"
    assert judge(intact, 10, None, None, ()) == "intact"  # no checkpoint yet
    assert judge(broken, 10, "h8", cp, ()) == "broken"
    assert judge(ChainCheck(6, "h6"), 6, None, cp, ()) == "truncated"  # ends before seq 8
    assert judge(intact, 10, "other", cp, ()) == "rewritten"  # seq 8 holds another hash
    assert judge(intact, 10, "h8", cp, ("checkpoint-x.json",)) == "forged_checkpoint"


def test_the_key_a_log_is_signed_under_is_told_from_another_by_its_last_entries() -> None:
    log = _chain(10)
    recent = log[-8:][::-1]
    assert signs(KEY, recent, 0)
    assert not signs(ChainKey(b"o" * 32), recent, 0)
    # the very last entry altered (or a forged one appended): the key is still the log's;
    # the break is verify_chain's to find
    forged = replace(log[-1], detail={"i": "forged"})
    assert signs(KEY, [forged, *recent[1:]], 0)
    assert verify_chain([*log[:-1], forged], KEY).broken_at == 10
    # nothing to judge by: an empty log, a legacy prefix only
    assert signs(ChainKey(b"o" * 32), [], 0)
    assert signs(ChainKey(b"o" * 32), _chain(3, legacy_upto=3), 3)
    # a key that signs none of the keyed entries after a legacy prefix is refused
    assert not signs(ChainKey(b"o" * 32), _chain(5, legacy_upto=3), 3)
