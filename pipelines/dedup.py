"""Near-duplicate detection for ingest: MinHash LSH over word shingles."""

from __future__ import annotations


def _shingles(norm: str, k: int) -> set[bytes]:
    words = norm.split()
    if len(words) <= k:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)}


class NearDuplicateIndex:
    """MinHash LSH over word shingles: keeps the first of each near-duplicate group."""

    def __init__(self, threshold: float, num_perm: int, shingle: int) -> None:
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.num_perm = num_perm
        self.shingle = shingle

    def seen(self, key: str, norm: str) -> str | None:
        from datasketch import MinHash

        m = MinHash(num_perm=self.num_perm, seed=1)
        m.update_batch(list(_shingles(norm, self.shingle)) or [b""])
        hits = self.lsh.query(m)
        if hits:
            return str(sorted(hits)[0])
        self.lsh.insert(key, m)
        return None
