"""Receipts signed and appended per second, proofs at 1,000,000 leaves, verifications per
second, each beside the raw Ed25519 and SHA-256 rates measured in the same run.

Needs PostgreSQL (DATABASE_URL, SECRET_KEY, LUP_SUBJECT_PEPPER, LUP_SIGNING_KEY_FILE; see the
README). Run from the project root: `python bench/ledger.py [--leaves 1000000]`.
"""

import argparse
import hashlib
import multiprocessing
import random
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, connections

from _setup import migrate, percentile
from ledger import selectors, verify
from ledger.keys import signer
from ledger.selectors import receipt_document
from ledger.services import checkpoint_create, receipts_issue
from tests.ledger.factories import target_body


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s"


def raw_rates(payload: bytes) -> dict[str, float]:
    key = Ed25519PrivateKey.generate()
    signature = key.sign(payload)
    public = key.public_key()
    out = {}
    for name, fn, n in (
        ("Ed25519 sign", lambda: key.sign(payload), 20_000),
        ("Ed25519 verify", lambda: public.verify(signature, payload), 20_000),
        ("SHA-256 of a payload", lambda: hashlib.sha256(payload).digest(), 200_000),
        (
            "SHA-256 of a leaf node",
            lambda: hashlib.sha256(b"\x00" + payload[:52]).digest(),
            200_000,
        ),
    ):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        out[name] = n / (time.perf_counter() - start)
    return out


def append_one_by_one(count: int) -> None:
    connections.close_all()
    for n in range(count):
        receipts_issue(bodies=[target_body(n)])
    connections.close_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=2000, help="one-receipt transactions")
    parser.add_argument("--proofs", type=int, default=1000)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "run against PostgreSQL (DATABASE_URL)"
    migrate()

    sample = receipts_issue(bodies=[target_body(0)])[0]
    payload = bytes(sample.payload)
    print(f"== raw primitives on a {len(payload)}-byte receipt payload")
    raw = raw_rates(payload)
    for name, value in raw.items():
        print(f"{name:<44}{value:>12,.0f}/s")

    print("\n== receipts signed and appended")
    start = time.perf_counter()
    append_one_by_one(args.single)
    single = args.single / (time.perf_counter() - start)
    print(
        f"{'1 process, one receipt per transaction':<44}{single:>12,.0f}/s"
        f"   {single / raw['Ed25519 sign']:6.1%} of raw sign rate"
    )

    context = multiprocessing.get_context("fork")
    connections.close_all()
    start = time.perf_counter()
    workers = [
        context.Process(target=append_one_by_one, args=(args.single // 2,)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    double = (args.single // 2 * 2) / (time.perf_counter() - start)
    print(
        f"{'2 processes, one receipt per transaction':<44}{double:>12,.0f}/s"
        f"   x{double / single:4.2f} of 1 process"
    )

    batch = 10_000
    size = selectors.log_size()
    start, added = time.perf_counter(), 0
    while size < args.leaves:
        n = min(batch, args.leaves - size)
        receipts_issue(bodies=[target_body(i) for i in range(n)])
        size += n
        added += n
    if added:
        batched = added / (time.perf_counter() - start)
        print(
            f"{'1 process, 10,000 receipts per transaction':<44}{batched:>12,.0f}/s"
            f"   {batched / raw['Ed25519 sign']:6.1%} of raw sign rate (goal >= 30%)"
        )

    checkpoint = checkpoint_create()
    size = checkpoint.size
    print(f"\n== proofs at {size:,} leaves (p50 / p99 over {args.proofs})")
    rng = random.Random(3)
    timings = []
    for _ in range(args.proofs):
        index = rng.randrange(size)
        t = time.perf_counter()
        path = selectors.inclusion_proof(index=index, size=size)
        timings.append((time.perf_counter() - t) * 1000)
    print(
        f"{'inclusion proof (stored subtree hashes)':<44}"
        f"p50 {percentile(timings, 50):7.3f} ms   p99 {percentile(timings, 99):7.3f} ms"
        f"   ({len(path)} hashes)"
    )
    timings = []
    for _ in range(args.proofs):
        first = rng.randrange(1, size)
        t = time.perf_counter()
        selectors.consistency_proof(first=first, second=size)
        timings.append((time.perf_counter() - t) * 1000)
    print(
        f"{'consistency proof':<44}"
        f"p50 {percentile(timings, 50):7.3f} ms   p99 {percentile(timings, 99):7.3f} ms"
    )
    t = time.perf_counter()
    selectors.root_at(size)
    print(f"{'root at full size':<44}{(time.perf_counter() - t) * 1000:7.3f} ms")

    print("\n== offline verification (ledger.verify)")
    key = verify.parse_verifier_key(signer().verifier_key)
    document = receipt_document(sample)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        verify.verify_receipt(document["envelope"], document["proof"], key)
    full = n / (time.perf_counter() - start)
    print(
        f"{'receipt + proof + checkpoint verified':<44}{full:>12,.0f}/s"
        f"   {full / raw['Ed25519 verify']:6.1%} of raw verify rate (2 signatures each)"
    )
    start = time.perf_counter()
    for _ in range(n):
        verify.open_envelope(document["envelope"], key)
    envelope_rate = n / (time.perf_counter() - start)
    print(
        f"{'envelope only (signature + JCS check)':<44}{envelope_rate:>12,.0f}/s"
        f"   {envelope_rate / raw['Ed25519 verify']:6.1%} of raw verify rate"
    )


if __name__ == "__main__":
    main()
