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
// Mount runs the server in the calling process, so that process must not use
// mmap on the mount: a page fault on the mapping waits for the server while
// holding the address-space lock, which the server's Go runtime may need to
// grow its heap, and the process deadlocks. Libraries that map their files
// (bbolt, SQLite) need the server in another process: Start runs Serve there
// (a re-executed test binary) and returns a Remote that mounts a fresh crash
// FS with the power cut before or after its kth fsync, counts fsyncs,
// unmounts, and reboots onto the crash image, over a line protocol on the
// server's stdin and stdout with a deadline on every exchange. The
// in-process Mount stays for tests that inject arbitrary faults with faultfs
// hooks, which cannot cross a process boundary.
//
// Mounting needs an openable /dev/fuse and root: mounts are made with mount(2)
// and taken down with umount(2), no fusermount binary is used. A mount that
// is still busy at Unmount (a leaked descriptor) is taken down by aborting
// its connection through the FUSE control file system, which lossyfs mounts
// at /sys/fs/fuse/connections if it is absent, and detaching it lazily.
// Available says which prerequisite is missing, for tests to skip with.
package lossyfs
