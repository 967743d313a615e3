package conformance

import (
	"context"
	"os"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// Harness is what a backend's test gives Run: ways to open its WAL and the
// parts of the contract it does not promise. Only Open is required; each
// other field left zero makes the suite do what it can without it, and the
// cases that need it skip, saying which field they lack.
type Harness struct {
	// Open opens (or reopens) the WAL in dir. The suite calls it repeatedly on
	// the same dir to simulate restarts, and from a re-executed child process.
	Open func(ctx context.Context, dir string) (backend.WAL, error)
	// OpenSmall opens the WAL in dir configured to start a new file every
	// kilobyte or so, so that the crash cases' workload of 20 records spans
	// three files or more and power is cut during rotation. nil: Open.
	OpenSmall func(ctx context.Context, dir string) (backend.WAL, error)
	// OpenFS opens the WAL in dir doing all its file I/O through fsys, as
	// backends built on package vfs (jsonl) do with Config.FS, with small
	// files like OpenSmall. nil: the cases that need to see or cut every
	// file-system operation (power loss on the in-memory crash file system,
	// kill -9 at named operations) skip.
	OpenFS func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error)
	// FileMode and DirMode are the modes Open widens files and directories
	// to (backend.Config's fields of the same names); zero: 0600 and 0700.
	// The private_files case allows no permission bit beyond them.
	FileMode, DirMode os.FileMode
	// Caps lists what the backend does not promise; the zero value means the
	// full contract.
	Caps Capabilities
}

// openSmall returns OpenSmall, or Open when it is nil.
func (h Harness) openSmall() func(ctx context.Context, dir string) (backend.WAL, error) {
	if h.OpenSmall != nil {
		return h.OpenSmall
	}
	return h.Open
}

// Capabilities lists the parts of the contract a backend leaves out, and the
// limits of its library, so that the cases depending on them skip with a
// reason instead of failing. The zero value means the full contract.
type Capabilities struct {
	// NotPersistent: the log does not outlive the process (the memory backend):
	// the crash cases and the foreign-file cases skip.
	NotPersistent bool
	// AppendNotDurable: Append returns before fsync (SyncNone): records are durable
	// only after Sync or Close, so the crash cases skip.
	AppendNotDurable bool
	// MapsFiles: the library reads its files through mmap (bbolt, SQLite). The
	// fault cases inject faults over FUSE from a server in the test process
	// itself; a page fault on a mapped file waits for that server while
	// holding the address-space lock, which the server's runtime may need to
	// grow its heap, so the process deadlocks. Their FUSE subtests skip.
	// power_loss_every_sync serves FUSE from a child process and runs.
	MapsFiles bool
	// Encrypted: the harness opens every log with Config.Encryption set
	// (see RunWithEncryption), so the encrypted_at_rest case runs.
	Encrypted bool
	// Skip maps a case name to why the backend's library cannot pass it; the
	// case skips with that reason. For limitations of a library only, never
	// for a bug of the backend. A name that is no case fails Run.
	Skip map[string]string
}

// crashReason returns why the crash cases cannot run with c, or "" when they can.
func (c Capabilities) crashReason() string {
	switch {
	case c.NotPersistent:
		return "Caps.NotPersistent: the log does not outlive the process, so nothing is left to check after a crash"
	case c.AppendNotDurable:
		return "Caps.AppendNotDurable: an acknowledged Append is durable only after Sync or Close, so a crash may lose it by contract"
	}
	return ""
}

// filesReason returns why the cases about the directory's files cannot run
// with c, or "" when they can.
func (c Capabilities) filesReason() string {
	if c.NotPersistent {
		return "Caps.NotPersistent: the backend keeps no files, so it never reads what else the directory holds"
	}
	return ""
}
