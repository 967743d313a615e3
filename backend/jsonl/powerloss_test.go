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

// TestCrash runs the power-loss and fault cases with small segments, over
// FUSE and, since jsonl does its I/O through package vfs, on the in-memory
// crash file system at every operation.
func TestCrash(t *testing.T) {
	conformance.RunCrash(t, conformance.CrashHarness{
		Harness: conformance.Harness{
			Open: func(ctx context.Context, dir string) (backend.WAL, error) {
				return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir})
			},
		},
		OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
			return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Params: smallSegments})
		},
		OpenFS: func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
			return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, FS: fsys, Params: smallSegments})
		},
	})
}
