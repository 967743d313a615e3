package sqlitewal_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/conformance"
	"github.com/nautilus-go/nautilus/examples/custom-backend/sqlitewal"
)

// opener returns a Harness.Open for the backend in mode with params.
func opener(mode backend.SyncMode, params map[string]string, enc *backend.Encryption) func(context.Context, string) (backend.WAL, error) {
	return func(ctx context.Context, dir string) (backend.WAL, error) {
		return backend.Open(ctx, backend.Config{Backend: sqlitewal.Name, Dir: dir, Sync: mode, Params: params, Encryption: enc})
	}
}

// checkpointEveryCommit makes SQLite copy its WAL into the database file
// after every commit, so that the crash cases' small workload cuts the power
// during checkpoints and the reuse of the WAL file, as files of a kilobyte
// do for a segmented log.
var checkpointEveryCommit = map[string]string{sqlitewal.ParamWALAutocheckpoint: "1"}

// TestConformance runs the whole suite in both sync modes: the contract,
// kill -9, power loss over FUSE, injected faults and foreign files. The crash
// cases skip under SyncNone, whose Appends are durable only after Sync;
// TestSyncMakesDurable covers that mode. SQLite does its own I/O, so the
// cases that need every operation to pass through a vfs.FS (Harness.OpenFS)
// skip, and it maps no file (no -shm, see TestNoSharedMemoryFile), so
// Caps.MapsFiles is false and the FUSE fault cases run.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open:      opener(mode, nil, enc),
					OpenSmall: opener(mode, checkpointEveryCommit, enc),
					Caps:      conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
				}
			})
		})
	}
}

// syncedAppends acknowledges an Append of a SyncNone WAL only once Sync has
// returned, so that it promises what SyncAlways promises.
type syncedAppends struct{ backend.WAL }

func (w syncedAppends) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	last, err := w.WAL.Append(ctx, data...)
	if err != nil {
		return 0, err
	}
	if err := w.WAL.Sync(ctx); err != nil {
		return 0, err
	}
	return last, nil
}

// TestSyncMakesDurable runs the whole suite, crash cases included, on
// SyncNone with every Append followed by Sync: so Sync (a checkpoint under
// synchronous NORMAL) makes the records durable against kill -9 and power
// loss, TruncateFront is durable on its own, and a failed Sync is fail-stop.
func TestSyncMakesDurable(t *testing.T) {
	synced := func(params map[string]string) func(context.Context, string) (backend.WAL, error) {
		open := opener(backend.SyncNone, params, nil)
		return func(ctx context.Context, dir string) (backend.WAL, error) {
			w, err := open(ctx, dir)
			if err != nil {
				return nil, err
			}
			return syncedAppends{w}, nil
		}
	}
	conformance.Run(t, conformance.Harness{Open: synced(nil), OpenSmall: synced(checkpointEveryCommit)})
}
