// Package faultfs wraps any vfs.FS to inject faults: the Nth write, sync,
// create, rename or remove fails with EIO or ENOSPC, a write is cut short, or
// the process is killed, at a point a test names.
//
// The fault and crash tests of the conformance suite and of the FS-aware
// backends use it, usually over crashfs: a Hook sees every operation before it
// runs (and may fail it) and after it succeeds, numbered per kind, so a test
// can take a crash image "right after sync #k", cut the power there (fail
// everything later), or SIGKILL a child process at "before write #3".
//
// Injected errors are *os.PathError values wrapping the syscall.Errno given,
// so errors.Is(err, syscall.ENOSPC) holds as it does for the os package.
// Files whose inner file implements io.WriterAt do too.
package faultfs
