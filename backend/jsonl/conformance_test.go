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
func smallSegments(params map[string]string) map[string]string {
	small := map[string]string{jsonl.ParamSegmentBytes: "1KiB"}
	for k, v := range params {
		small[k] = v
	}
	return small
}

// TestConformance runs the whole suite against jsonl in both sync modes,
// with segments preallocated and not, and under SyncNone with a write
// buffer too. The crash cases use small segments, over FUSE and, since jsonl
// does its I/O through package vfs, on the in-memory crash file system at
// every operation and with kill -9 at named file-system operations.
func TestConformance(t *testing.T) {
	type variant struct {
		mode   backend.SyncMode
		params map[string]string
	}
	var variants []variant
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		for _, prealloc := range []string{"true", "false"} {
			variants = append(variants, variant{mode, map[string]string{jsonl.ParamPreallocate: prealloc}})
		}
	}
	variants = append(variants, variant{backend.SyncNone, map[string]string{jsonl.ParamWriteBuffer: "64KiB"}})
	for _, v := range variants {
		name := v.mode.String()
		for _, k := range []string{jsonl.ParamPreallocate, jsonl.ParamWriteBuffer} {
			if val, ok := v.params[k]; ok {
				name += "/" + k + "=" + val
			}
		}
		t.Run(name, func(t *testing.T) {
			conformance.RunWithEncryption(t, func(enc *backend.Encryption) conformance.Harness {
				return conformance.Harness{
					Open: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: v.mode, Params: v.params})
					},
					OpenSmall: func(ctx context.Context, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: v.mode, Params: smallSegments(v.params)})
					},
					OpenFS: func(ctx context.Context, fsys vfs.FS, dir string) (backend.WAL, error) {
						return backend.Open(ctx, backend.Config{Encryption: enc, Backend: "jsonl", Dir: dir, Sync: v.mode, FS: fsys, Params: smallSegments(v.params)})
					},
					Caps: conformance.Capabilities{AppendNotDurable: v.mode == backend.SyncNone},
				}
			})
		})
	}
}
