"""API scopes. A token carries some of these; each API view names the one it needs."""

CONSENT_READ = "consent:read"
CONSENT_WRITE = "consent:write"
LINEAGE_READ = "lineage:read"
LINEAGE_WRITE = "lineage:write"
ERASURE_READ = "erasure:read"
ERASURE_WRITE = "erasure:write"
# Approve or deny an erasure request, and approve a proposed target: decisions a second person
# makes (four eyes), held apart from `erasure:write`, which files, verifies and registers.
ERASURE_APPROVE = "erasure:approve"
# File a request already verified (by the caller's own means, which it names) and planned, in one
# call: for trusted services that know who their user is. Approval stays a second person's.
ERASURE_VERIFY = "erasure:verify"
LEDGER_READ = "ledger:read"

ALL_SCOPES = frozenset(
    {
        CONSENT_READ,
        CONSENT_WRITE,
        LINEAGE_READ,
        LINEAGE_WRITE,
        ERASURE_READ,
        ERASURE_WRITE,
        ERASURE_APPROVE,
        ERASURE_VERIFY,
        LEDGER_READ,
    }
)
READ_SCOPES = frozenset(scope for scope in ALL_SCOPES if scope.endswith(":read"))
