package jetstream

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/vfs"
)

// storeSubdir is the directory the embedded server keeps its streams in,
// under its store directory.
const storeSubdir = "jetstream"

// embeddedMaxPayload is the embedded server's max_payload: the largest a
// record, in its envelope, may be. It is the server's recommended ceiling.
const embeddedMaxPayload = 8 << 20

// The embedded server's account limits: far above any WAL's size, since the
// disk itself is the limit (the log is trimmed by TruncateFront).
const (
	embeddedMaxStore  = 1 << 50
	embeddedMaxMemory = 1 << 30
)

// readyTimeout bounds the embedded server's start: recovering a large store
// takes a while, and a loaded machine more.
const readyTimeout = time.Minute

// startEmbedded starts a single JetStream server in this process, storing
// under dir and reached only in process (no listener). syncAlways makes its
// file store fsync every write before the ack, as SyncAlways promises.
func startEmbedded(dir string, syncAlways bool, cfg backend.Config) (*server.Server, error) {
	if err := vfs.MkdirAllSynced(cfg.FileSystem(), dir); err != nil {
		return nil, fmt.Errorf("backend %s: create %s: %w", Name, dir, err)
	}
	opts := &server.Options{
		ServerName: "nautilus-wal",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		MaxPayload: embeddedMaxPayload,
		SyncAlways: syncAlways,
		// Explicit limits: left unset, the server sizes the store by the
		// disk's free space as it reads it at start, and refuses every
		// stream on a file system that reports none (FUSE).
		JetStreamMaxStore:  embeddedMaxStore,
		JetStreamMaxMemory: embeddedMaxMemory,
		NoLog:              true,
		NoSigs:             true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("backend %s: embedded server in %s: %w", Name, dir, err)
	}
	s.Start()
	if !s.ReadyForConnections(readyTimeout) || !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("backend %s: embedded server in %s did not start with JetStream within %s", Name, dir, readyTimeout)
	}
	return s, nil
}
