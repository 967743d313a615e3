// Package bench measures WAL backends side by side on one disk; it is the
// importable body of cmd/walbench.
//
// A run (Run, configured by Options) measures rows: each registered backend,
// opened through backend.Open with all the shared machinery, and the
// baselines that show what the framework adds:
//
//	fdatasync           a plain file: write the same bytes, fdatasync each Append
//	fdatasync-prealloc  the same into a file fallocated before the timed loop, so that
//	                    fdatasync records no growth (the disk's limit)
//	tidwall-raw         github.com/tidwall/wal used directly, NoSync false, one Write per Append
//	pebble-raw          pebble used directly, one Set with pebble.Sync per Append
//	bbolt-raw           bbolt used directly, one Update per Append
//	memory              the in-memory backend: the framework's cost without I/O
//
// under the workloads append (latency of every Append, 1 or many writers),
// replay (records per second reading a filled log back), truncate (latency
// of TruncateFront), broker (an in-process broker's request latency
// without a WAL, with one synchronously, and async, per backend) and
// broker-http (the same requests over loopback HTTP to the handler nautilus
// serve builds, with the process's RSS and heap around and during each row).
//
// # Method
//
// Every row runs in a directory of its own, after a few unmeasured
// operations. Rows that are compared with each other (the append rows of
// one setting, or the broker rows of one client count) are open together and
// take turns in rounds (Options.Rounds), so that a drift in a shared disk's
// latency falls on all of them alike. Records are JSON objects of the given
// size, like the broker's.
//
// # Figures
//
// Latency percentiles are exact: every operation's latency is kept, 8 bytes
// each in a slice allocated before the measured window, and read by nearest
// rank (Percentile). Allocations per operation are the runtime's Mallocs
// delta over the window. Fsyncs per operation are counted, not assumed: for
// a backend, one per driver commit under SyncAlways (backend.Observer's
// Committed, so a group-commit batch counts once); for the fdatasync,
// fdatasync-prealloc, tidwall-raw and bbolt-raw baselines one per commit
// call, by construction (a bbolt commit issues two fdatasyncs and counts as
// one, as the bbolt backend's does; fdatasync-prealloc adds one for each
// further 64 MiB it allocates mid-row); for pebble-raw, the syncs pebble
// issues on its files, counted by wrapping its vfs.FS, since pebble's commit
// pipeline merges them.
//
// # Reports
//
// Report.WriteText prints one table per workload and sync mode and ends with
// the project's performance targets (EvaluateTargets), computed from the
// rows, with fdatasync-prealloc as the disk's limit; WriteBench prints Go benchmark lines for benchstat -col /backend;
// WriteJSON one object per row; WriteChart an SVG of the percentiles.
//
// # Errors
//
// A bad option is a *UsageError naming its flag (cmd/walbench exits 2); a
// WAL or I/O error stops the run and names the row (exit 1).
package bench
