package damage_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/damage"
)

const n = 40

type tails struct {
	backend.NopObserver
	files   []string
	dropped []int64
}

func (o *tails) TailRepaired(file string, dropped int64) {
	o.files = append(o.files, file)
	o.dropped = append(o.dropped, dropped)
}

// replayAll opens the log in dir and returns its bounds and the error of a
// full replay, checking every record it delivers against Payload.
func replayAll(t *testing.T, name, dir string, obs backend.Observer) (first, last uint64, err error) {
	t.Helper()
	ctx := context.Background()
	cfg := damage.Config(name, dir)
	cfg.Observer = obs
	w, err := backend.Open(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	first, last, err = w.Bounds(ctx)
	require.NoError(t, err)
	err = w.Replay(ctx, first, func(i uint64, data []byte) error {
		if !bytes.Equal(data, damage.Payload(i)) {
			return fmt.Errorf("record %d holds other bytes", i)
		}
		return nil
	})
	return first, last, err
}

func TestBackendsAreTheOnDiskOnes(t *testing.T) {
	require.Equal(t, []string{"bbolt", "jsonl", "pebble", "tidwall"}, damage.Backends())
}

func TestPayloadsAreJSONAndNot(t *testing.T) {
	require.Equal(t, `{"op":"assert","session":"s1","seq":1}`, string(damage.Payload(1)))
	require.Contains(t, string(damage.Payload(3)), "\n")
}

func TestHealthyLogsSpanSeveralFiles(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			damage.Healthy(t, name, dir, n)
			first, last, err := replayAll(t, name, dir, nil)
			require.NoError(t, err)
			require.Equal(t, []uint64{1, n}, []uint64{first, last})
			if name == "jsonl" || name == "tidwall" {
				require.Greater(t, len(damage.DataFiles(t, name, dir)), 2)
			}
		})
	}
}

// A torn write loses record n; the backends that see it repair it as a torn
// tail, exactly where and how much Torn says.
func TestTornLosesTheLastRecord(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tear := damage.Torn(t, name, dir, n)
			obs := &tails{}
			_, last, err := replayAll(t, name, dir, obs)
			require.NoError(t, err)
			require.Equal(t, uint64(n-1), last)
			if !tear.Visible {
				require.Empty(t, obs.files, "the library drops the torn write itself")
				return
			}
			require.Equal(t, []string{tear.File}, obs.files)
			require.Equal(t, []int64{tear.Bytes}, obs.dropped)
			fi, err := os.Stat(tear.File)
			require.NoError(t, err)
			require.Equal(t, tear.Offset, fi.Size(), "the repair cut the file where the record began")
		})
	}
}

// A corrupt record is refused by Open or Replay, naming its index, and never
// mistaken for a torn tail.
func TestCorruptIsRefusedAtItsIndex(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := damage.Corrupt(t, name, dir, n)
			obs := &tails{}
			_, _, err := replayAll(t, name, dir, obs)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.Index, ce.Index, "%v", err)
			require.Equal(t, c.File, ce.File)
			require.Empty(t, obs.files)
		})
	}
}

func TestFilesAndCopyDir(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "a"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "b"), nil, 0o644))
	dst := filepath.Join(t.TempDir(), "copy")
	damage.CopyDir(t, src, dst)
	files := damage.Files(t, dst)
	require.Equal(t, map[string]string{filepath.Join("sub", "a"): "x", "b": ""}, files)
}
