// Package crashfs is an in-memory vfs.FS that remembers what was made durable,
// so that tests can simulate a power loss at any moment.
//
// The crash tests of the conformance suite and of the FS-aware backends (jsonl)
// run a workload on an FS, then call CrashImage to get a new FS holding only
// what a real disk would keep after the power went out: each file's contents
// as of its last Sync, and each directory's entries as of its last SyncDir.
// Nothing else survives, which is stricter than most real file systems (ext4
// often persists a new file's entry along with its data) and so catches a
// missing directory fsync. CrashOptions can let a seeded fraction of unsynced
// 4 KiB blocks survive too, with holes zero-filled, as a disk that wrote some
// pages early would leave them (Pebble's vfs.NewCrashableMem, LevelDB's
// FaultInjectionTestEnv).
//
// Errors are *os.PathError values wrapping a syscall.Errno, as the os package
// returns them, so errors.Is(err, os.ErrNotExist) and friends work. Lock is an
// in-process lock table: a second Lock of a held name fails with an error
// wrapping vfs.ErrWouldBlock. FileInfo.Sys returns a *syscall.Stat_t whose Ino
// identifies the file, for servers (internal/lossyfs) that need inode numbers.
//
// Files also implement io.WriterAt. All methods are safe for concurrent use.
package crashfs
