package conformance

import (
	"context"

	"github.com/nautilus-go/nautilus/backend"
)

// Harness is what a backend's test gives Run: a way to open its WAL and the
// parts of the contract it does not promise.
type Harness struct {
	// Open opens (or reopens) the WAL in dir. The suite calls it repeatedly on the
	// same dir to simulate restarts, and from a re-executed child process.
	Open func(ctx context.Context, dir string) (backend.WAL, error)
	// Caps lists what the backend does not promise; the zero value means the
	// full contract.
	Caps Capabilities
}

// Capabilities lists the parts of the contract a backend leaves out, so that
// the cases depending on them skip with a reason instead of failing. The zero
// value means the full contract.
type Capabilities struct {
	// NotPersistent: the log does not outlive the process (the memory backend):
	// the kill -9 and power-loss cases skip.
	NotPersistent bool
	// AppendNotDurable: Append returns before fsync (SyncNone): records are durable
	// only after Sync or Close, so the crash cases skip.
	AppendNotDurable bool
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
