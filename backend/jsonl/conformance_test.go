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
func smallSegments(prealloc string) map[string]string {
	return map[string]string{jsonl.ParamSegmentBytes: "1KiB", jsonl.ParamPreallocate: prealloc}
}

// TestConformance runs the whole suite against jsonl in both sync modes,
// with segments preallocated and not. The crash cases use small segments,
// over FUSE and, since jsonl does its I/O through package vfs, on the
// in-memory crash file system at every operation and with kill -9 at named
// file-system operations.
func TestConformance(t *testing.T) {
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		for _, prealloc := range []string{"true", "false"} {
			t.Run(mode.String()+"/preallocate="+prealloc, func(t *testing.T) {
				conformance.Run(t, conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Sync: mode,
							Params: map[string]string{jsonl.ParamPreallocate: prealloc}})
					},
					OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Sync: mode, Params: smallSegments(prealloc)})
					},
					OpenFS: func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Sync: mode, FS: fsys, Params: smallSegments(prealloc)})
					},
					Caps: conformance.Capabilities{AppendNotDurable: mode == backend.SyncNone},
				})
			})
		}
	}
}
