// Package conformance is the test suite every Nautilus WAL backend runs to show
// it keeps the contract of package backend.
//
// Every built-in backend calls Run from its own test, and so does a user's
// custom backend: implement backend.Driver, register it, and add one test.
//
//	func TestConformance(t *testing.T) {
//		for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
//			t.Run(mode.String(), func(t *testing.T) {
//				conformance.Run(t, conformance.Harness{
//					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
//						return backend.Open(ctx, backend.Config{Backend: "mine", Dir: dir, Sync: mode})
//					},
//					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
//				})
//			})
//		}
//	}
//
// The package uses only the standard testing package, so importing it adds no
// test dependency.
//
// # What it checks
//
// Run runs one subtest per case, each in a fresh directory; a failing case
// logs the rule it checks. Case names are stable, so one case runs alone with
// go test -run 'TestConformance/always/kill_9'. The cases cover: the bounds of
// a new WAL; the round trip of empty, 1-byte and 1 MiB records, alone and in
// batches; indexes that continue across reopen and after truncating
// everything; Replay's range errors and its callback's error; that Append
// copies its arguments; TruncateFront's range and durability; done contexts;
// Close; the directory lock against this process and another; concurrent
// appenders and readers (run it with -race); group commit; kill -9 of a
// process appending to the WAL; simulated power loss; and injected fsync and
// ENOSPC faults and a crash during recovery. RunCrash runs the power-loss and
// fault cases with more ways to open the WAL (small files, a file system of
// the suite's choosing); Bench measures a backend with the same Harness.
//
// # Capabilities
//
// Harness.Caps says what a backend does not promise; the zero value is the
// full contract. NotPersistent (the memory backend) and AppendNotDurable
// (SyncNone) skip the crash cases (kill -9, power loss, faults), saying why.
//
// # Child processes
//
// Some cases need a second process. The suite re-executes the test binary
// (os.Executable) with -test.run anchored to the case's full name and
// NAUTILUS_CONFORMANCE_CHILD set to that name, as the standard library's
// TestHelperProcess does; in that process Run calls the case's child body
// instead of its usual one. So Harness.Open must work in a fresh process, and
// the test calling Run must name its subtests the same way on every run.
//
// The kill -9 case starts a child that opens the WAL and appends records of
// varied sizes in batches of varied length, printing each acknowledged range
// on stdout. Each record's bytes derive from its index, so the parent can
// check them. The parent reads a random number of acknowledgements from the
// pipe (or kills during Open), sends SIGKILL, reopens the WAL and requires
// every acknowledged record present and byte-identical, indexes dense, every
// record after the last acknowledgement valid, and Append to continue at
// last+1. Rounds reuse one directory and truncate it now and then.
//
// # Environment
//
//	NAUTILUS_CRASH_ROUNDS  the number of kill -9 rounds (default 50); raise it for a soak
//	NAUTILUS_CRASH_SEED    the seed of the kill -9 case's choices (default: random,
//	                       logged), to repeat a failing run
package conformance
