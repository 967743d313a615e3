package broker

// FailpointEnv names the failpoint at which a binary built with
// -tags failpoints kills itself (SIGKILL), to test crash recovery.
const FailpointEnv = "NAUTILUS_FAILPOINT"

// Failpoints lists the crash points of the request lifecycle, in order.
// before-store-write and after-store-write come after the answer in async
// mode.
var Failpoints = []string{"before-wal-append", "after-wal-append", "after-apply", "before-store-write", "after-store-write"}
