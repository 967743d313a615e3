// Package lossyfs serves a vfs.FS as a real, kernel-mounted file system over
// FUSE, so that libraries doing their own I/O (tidwall, bbolt, a user's
// backend) can be put through a simulated power loss.
//
// The conformance suite's power-loss cases mount a crashfs (under a faultfs)
// with Mount, point Harness.Open at the mount, and count the fsyncs the
// library issues: file fsync and fdatasync arrive as FUSE FSYNC, a directory
// fsync as FSYNCDIR, and both reach the backing FS as Sync and SyncDir. To cut
// the power after fsync #k the test takes crashfs's CrashImage there and makes
// every later operation fail (faultfs.FS.Cut); then it unmounts and mounts a
// new server over the image. A new mount shares no page cache with the old
// one, so the reopened library sees only what was fsync'd.
//
// Writes are write-through (no writeback cache), so every write(2) reaches
// the backing FS before it returns. flock is left to the kernel, which
// handles it locally for a FUSE mount that does not claim lock support.
//
// The server runs in the calling process, so that process must not use
// mmap on the mount: a page fault on the mapping waits for the server while
// holding the address-space lock, which the server's Go runtime may need to
// grow its heap, and the process deadlocks. Libraries that map their files
// (bbolt) need the server in another process.
//
// Mounting needs /dev/fuse and root (mount(2) directly) or a fusermount
// binary; Available says why not, for tests to skip with.
package lossyfs
