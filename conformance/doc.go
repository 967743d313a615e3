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
// process appending to the WAL, at random points and at named file-system
// operations; simulated power loss before and after every fsync and before
// every operation; injected fsync errors, ENOSPC and a crash during recovery;
// files the backend did not write (empty, random, another backend's log) in
// the directory; and the modes of everything the backend leaves (0600 files,
// 0700 directories, under umask 022; Harness.FileMode and DirMode declare a
// harness that widens them). Bench measures a backend with the same Harness.
//
// RunWithEncryption runs the whole suite twice: on the plain log and, in a
// subtest "encrypted", with Config.Encryption set from TestEncryption, where
// the encrypted_at_rest case also checks that no record's bytes reach any
// file. The built-in backends run it that way.
//
// # Harness
//
// Only Harness.Open is required. The crash cases run a workload of 20
// records that should span several files: OpenSmall opens the WAL with files
// of a kilobyte or so (nil: Open). OpenFS opens it doing all its I/O through
// a given vfs.FS, as backends built on package vfs (jsonl) can; with it the
// suite cuts the power on an in-memory crash file system before every
// operation, and kills a child at named operations. Without it those cases
// skip; a backend whose library does its own I/O still gets power loss over
// FUSE (internal/lossyfs, as root with /dev/fuse), served from a child
// process so that a library mapping its files cannot deadlock with it.
//
// # Capabilities
//
// Harness.Caps says what a backend does not promise; the zero value is the
// full contract. NotPersistent (the memory backend) skips the crash cases
// and the foreign-file cases, and AppendNotDurable (SyncNone) the crash cases,
// saying why. MapsFiles skips the FUSE subtests of the fault cases for a
// library that maps its files (bbolt, SQLite): they serve FUSE from the test
// process itself, and a page fault on the mapping would wait for that server
// and deadlock it. Skip names cases the backend's
// library cannot pass, each with the reason; a name that is no case fails.
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
// The kill_9_named_points case (with OpenFS) first runs the crash workload in
// the test process through faultfs to number its file-system operations, then
// starts one child per chosen point with $NAUTILUS_FAULTFS_KILL set (such as
// "after:write:6"): before a write, after a write and before its fsync, after
// an fsync, around the creation of a file during an Append, and around each
// remove, rename or write of a TruncateFront. faultfs sends SIGKILL at that
// operation, so no timing is involved; the child runs on the real file
// system, since kill -9 leaves the page cache, and the parent reopens and
// checks as above.
//
// The power_loss_every_sync case starts a child that serves FUSE
// (lossyfs.Serve) and takes commands on stdin: mount a fresh crash file
// system with the power cut before or after its kth fsync, unmount, and
// reboot onto what the power loss left. The parent opens the WAL on the
// mount, runs the workload, reboots, reopens and checks; each exchange has a
// deadline, and the child is killed and its mount removed even when a round
// fails.
//
// The power_loss_torn_writes case cuts the power right before each fsync of
// a workload of multi-page writes, four times per fsync, each time keeping a
// different seeded half of the 4 KiB pages written since each file's last
// fsync, lost pages reading as zeros: a write whose later page reached the
// disk and whose earlier one did not. It runs on the crash file system with
// OpenFS, else over FUSE from a child as above, with Open (files that rotate
// every kilobyte would be fsync'd between the pages of a write). The WAL must
// open unaided with every durable record.
//
// # Environment
//
//	NAUTILUS_CRASH_ROUNDS  the number of kill -9 rounds (default 50); raise it for a soak
//	NAUTILUS_CRASH_SEED    the seed of the kill -9 case's choices (default: random,
//	                       logged), to repeat a failing run
package conformance
