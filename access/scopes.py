"""API scopes. A token carries some of these; each API view names the one it needs."""

CONSENT_READ = "consent:read"
CONSENT_WRITE = "consent:write"
LINEAGE_READ = "lineage:read"
LINEAGE_WRITE = "lineage:write"
ERASURE_READ = "erasure:read"
ERASURE_WRITE = "erasure:write"
LEDGER_READ = "ledger:read"

ALL_SCOPES = frozenset(
    {
        CONSENT_READ,
        CONSENT_WRITE,
        LINEAGE_READ,
        LINEAGE_WRITE,
        ERASURE_READ,
        ERASURE_WRITE,
        LEDGER_READ,
    }
)
READ_SCOPES = frozenset(scope for scope in ALL_SCOPES if scope.endswith(":read"))
