package bench

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// fileAlloc returns a file's size and the bytes of disk it has allocated.
func fileAlloc(t *testing.T, path string) (size, allocated int64) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skipf("needs st_blocks from stat(2), got %T", fi.Sys())
	}
	return fi.Size(), st.Blocks * 512
}

func replayAll(t *testing.T, s store) [][]byte {
	t.Helper()
	var got [][]byte
	n, err := s.replay(context.Background(), func(b []byte) { got = append(got, append([]byte(nil), b...)) })
	require.NoError(t, err)
	require.EqualValues(t, len(got), n)
	return got
}

func TestFdatasyncPreallocAllocatesBeforeTheFirstAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "fdatasync.log")
	s, err := openFdatasyncPrealloc(ctx, storeOptions{dir: dir, sync: backend.SyncAlways, size: 200})
	require.NoError(t, err)
	size, allocated := fileAlloc(t, path)
	assert.EqualValues(t, preallocChunk, size, "the allocation extends the file's size")
	assert.GreaterOrEqual(t, allocated, int64(preallocChunk), "st_blocks cover the region before any append")

	recs := payloads(1, 50, 200)
	before := s.syncs()
	for _, r := range recs {
		require.NoError(t, s.append(ctx, [][]byte{r}))
	}
	assert.EqualValues(t, 50, s.syncs()-before, "one fdatasync per Append, no allocation among them")
	size, _ = fileAlloc(t, path)
	assert.EqualValues(t, preallocChunk, size, "the appends leave the file's size alone")
	assert.Equal(t, recs, replayAll(t, s), "the replay stops where the records end")
	require.NoError(t, s.close())

	s, err = openFdatasyncPrealloc(ctx, storeOptions{dir: dir, sync: backend.SyncAlways, size: 200})
	require.NoError(t, err)
	defer s.close()
	assert.Equal(t, recs, replayAll(t, s), "a reopened file finds the end of its records")
	size, _ = fileAlloc(t, path)
	assert.EqualValues(t, preallocChunk, size, "reopening with room left allocates nothing more")
}

// TestFdatasyncPreallocGrowsByChunks fills chunks exactly and across their
// ends, durably and not, and reopens the file each time.
func TestFdatasyncPreallocGrowsByChunks(t *testing.T) {
	ctx := context.Background()
	const size, chunk = 200, 2000 // ten records a chunk
	for _, mode := range []backend.SyncMode{backend.SyncAlways, backend.SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "fdatasync.log")
			o := storeOptions{dir: dir, sync: mode, size: size}
			recs := payloads(2, 26, size)
			var want [][]byte
			for _, step := range []struct {
				appends, batch int
				alloc          int64
			}{
				{1, 10, 2000}, // exactly one chunk: full
				{1, 1, 4000},  // reopened full, a chunk added at open
				{5, 3, 6000},  // 15 more, crossing a chunk within an append
			} {
				s, err := openPlainFile(o, chunk)
				require.NoError(t, err)
				assert.Equal(t, want, replayAll(t, s))
				for range step.appends {
					batch := recs[len(want) : len(want)+step.batch]
					require.NoError(t, s.append(ctx, batch))
					want = append(want, batch...)
				}
				got, allocated := fileAlloc(t, path)
				assert.Equal(t, step.alloc, got, "whole chunks after %d records", len(want))
				assert.GreaterOrEqual(t, allocated, step.alloc)
				assert.Equal(t, want, replayAll(t, s))
				require.NoError(t, s.close())
			}
		})
	}
}

func TestZeroFillAllocatesWhereFallocateCannot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer f.Close()
	const n = 3<<20 + 100
	require.NoError(t, zeroFill(f, 0, n))
	size, allocated := fileAlloc(t, path)
	assert.EqualValues(t, n, size)
	assert.GreaterOrEqual(t, allocated, int64(n))
	end, err := recordsEnd(f, size, 200)
	require.NoError(t, err)
	assert.Zero(t, end, "zeros hold no record")
}
