package broker

// FailpointEnv names the failpoint at which a binary built with
// -tags failpoints kills itself (SIGKILL), to test crash recovery.
const FailpointEnv = "NAUTILUS_FAILPOINT"

// Failpoints lists the crash points of the request lifecycle, in order.
// before-store-write and after-store-write come after the answer in async
// mode; after-audit-append, with the audit trail on, is the last point
// before the answer in either mode.
var Failpoints = []string{"before-wal-append", "after-wal-append", "after-apply", "before-store-write", "after-store-write", "after-audit-append"}
