package jsonl_test

import (
	"context"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jsonl"
	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/conformance"
)

// smallSegments makes the crash workload's 20 records span many segments.
var smallSegments = map[string]string{jsonl.ParamSegmentBytes: "1KiB"}

// TestConformance runs the whole suite against jsonl in both sync modes. The
// crash cases use small segments, over FUSE and, since jsonl does its I/O
// through package vfs, on the in-memory crash file system at every operation
// and with kill -9 at named file-system operations.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: mode})
					},
					OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: mode, Params: smallSegments})
					},
					OpenFS: func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: mode, FS: fsys, Params: smallSegments})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
				}
			})
		})
	}
}
