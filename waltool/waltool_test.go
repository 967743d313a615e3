package waltool_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/damage"
	"github.com/nautilus-go/nautilus/waltool"
)

const n = 40

var ctx = context.Background()

// seesEveryRecordAtOpen lists the backends whose Open checks every record,
// so Stats finds corruption anywhere; a key-value store's Open checks the
// ends of its log only, and tidwall's reads only the ends of a sealed segment.
var seesEveryRecordAtOpen = map[string]bool{"jsonl": true}

// readOnly runs the commands that must not change the directory, requiring
// that none did, and returns their results.
func readOnly(t *testing.T, cfg backend.Config) (verify, stats waltool.Report, dump []byte, dumped waltool.DumpReport, dumpErr error) {
	t.Helper()
	before := damage.Files(t, cfg.Dir)
	var err error
	verify, err = waltool.Verify(ctx, cfg)
	require.NoError(t, err)
	stats, err = waltool.Stats(ctx, cfg)
	require.NoError(t, err)
	var out bytes.Buffer
	dumped, dumpErr = waltool.Dump(ctx, cfg, 0, 0, &out)
	requireUnchanged(t, before, cfg.Dir, "verify, stats and dump change nothing")
	return verify, stats, out.Bytes(), dumped, dumpErr
}

// requireUnchanged requires every file under dir to hold what before says,
// naming the files that differ.
func requireUnchanged(t *testing.T, before map[string]string, dir, msg string) {
	t.Helper()
	after := damage.Files(t, dir)
	var changed []string
	for path, data := range before {
		if got, ok := after[path]; !ok || got != data {
			changed = append(changed, path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			changed = append(changed, path+" (new)")
		}
	}
	require.Empty(t, changed, msg)
}

// requireDump requires the dump to hold records 1 to last with their
// payloads, as data or base64 as the format says.
func requireDump(t *testing.T, dump []byte, last uint64) {
	t.Helper()
	require.Equal(t, last, dumped(t, dump), "the dump ends at record %d", last)
}

// dumped checks the dump's lines, records 1 to some last with their
// payloads, and returns that last.
func dumped(t *testing.T, dump []byte) uint64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(dump))
	next := uint64(1)
	for sc.Scan() {
		var line struct {
			Index  uint64          `json:"index"`
			Data   json.RawMessage `json:"data"`
			Base64 *string         `json:"base64"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&line), sc.Text())
		require.Equal(t, next, line.Index)
		want := damage.Payload(next)
		if line.Base64 != nil {
			require.Nil(t, line.Data)
			got, err := base64.StdEncoding.DecodeString(*line.Base64)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.False(t, json.Valid(want), "only a record that is not JSON goes as base64")
		} else {
			require.Equal(t, string(want), string(line.Data))
		}
		next++
	}
	return next - 1
}

func requireFiles(t *testing.T, rep waltool.Report, dir string) {
	t.Helper()
	var total int64
	for _, f := range rep.Files {
		info, err := os.Stat(filepath.Join(dir, f.Path))
		require.NoError(t, err)
		require.Equal(t, info.Size(), f.Bytes, f.Path)
		total += f.Bytes
	}
	require.Equal(t, total, rep.Bytes)
	require.NotEmpty(t, rep.Files)
}

func TestHealthy(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			damage.Healthy(t, name, dir, n)
			cfg := damage.Config(name, dir)
			verify, stats, dump, dumped, err := readOnly(t, cfg)
			require.NoError(t, err)
			for _, rep := range []waltool.Report{verify, stats} {
				require.Nil(t, rep.Problem)
				require.Equal(t, []uint64{1, n, n}, []uint64{rep.First, rep.Last, rep.Records()})
				requireFiles(t, rep, dir)
			}
			require.Equal(t, waltool.DumpReport{First: 1, Last: n, Records: n}, dumped)
			requireDump(t, dump, n)

			rep, err := waltool.Repair(ctx, cfg, true)
			require.NoError(t, err)
			require.Equal(t, waltool.RepairReport{First: 1, Last: n}, rep, "nothing to repair")
		})
	}
}

func TestTorn(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tear := damage.Torn(t, name, dir, n)
			cfg := damage.Config(name, dir)
			verify, stats, dump, dumped, err := readOnly(t, cfg)
			require.NoError(t, err)
			requireDump(t, dump, n-1)
			for _, rep := range []waltool.Report{verify, stats} {
				require.Equal(t, []uint64{1, n - 1}, []uint64{rep.First, rep.Last})
				if !tear.Visible {
					require.Nil(t, rep.Problem, "the library drops a torn write in silence")
					continue
				}
				requireTorn(t, rep.Problem, tear)
			}

			rep, err := waltool.Repair(ctx, cfg, false)
			require.NoError(t, err)
			require.Equal(t, []uint64{1, n - 1}, []uint64{rep.First, rep.Last})
			require.Nil(t, rep.Corrupt)
			if !tear.Visible {
				require.Nil(t, dumped.Torn)
				require.Empty(t, rep.Torn)
				return
			}
			requireTorn(t, dumped.Torn, tear)
			require.Len(t, rep.Torn, 1)
			requireTorn(t, &rep.Torn[0], tear)
			info, err := os.Stat(tear.File)
			require.NoError(t, err)
			require.Equal(t, tear.Offset, info.Size(), "the tail is cut off")
			require.FileExists(t, tear.File+backend.BrokenSuffix, "and kept")

			verified, err := waltool.Verify(ctx, cfg)
			require.NoError(t, err)
			require.Nil(t, verified.Problem)
		})
	}
}

func requireTorn(t *testing.T, p *waltool.Problem, tear damage.Tear) {
	t.Helper()
	require.NotNil(t, p)
	require.True(t, p.Torn)
	require.Equal(t, tear.File, p.Err.File)
	require.Equal(t, tear.Offset, p.Err.Offset)
	require.Equal(t, uint64(n), p.Err.Index)
	require.Equal(t, tear.Bytes, p.Bytes)
}

func TestCorrupt(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := damage.Corrupt(t, name, dir, n)
			cfg := damage.Config(name, dir)
			verify, stats, dump, _, dumpErr := readOnly(t, cfg)
			requireCorruptAt(t, verify.Problem, c)
			requireFiles(t, verify, dir)
			if seesEveryRecordAtOpen[name] {
				requireCorruptAt(t, stats.Problem, c)
			} else {
				require.Nil(t, stats.Problem)
				require.Equal(t, uint64(n), stats.Last)
			}
			var ce *backend.CorruptError
			require.ErrorAs(t, dumpErr, &ce)
			require.Equal(t, c.Index, ce.Index)
			require.Equal(t, c.File, ce.File, "the error names the original file: %v", dumpErr)
			require.NotContains(t, dumpErr.Error(), os.TempDir()+string(filepath.Separator)+"nautilus-wal-")
			require.Less(t, dumped(t, dump), c.Index, "what was dumped precedes the damage")

			before := damage.Files(t, dir)
			rep, err := waltool.Repair(ctx, cfg, false)
			require.NoError(t, err)
			require.Equal(t, c.Index, rep.Corrupt.Index)
			require.Nil(t, rep.Salvage)
			if seesEveryRecordAtOpen[name] {
				requireUnchanged(t, before, dir, "Open refuses the log and changes nothing")
			}
			again, err := waltool.Verify(ctx, cfg)
			require.NoError(t, err)
			requireCorruptAt(t, again.Problem, c) // without the cut, the records are left as they are

			rep, err = waltool.Repair(ctx, cfg, true)
			require.NoError(t, err)
			require.NotNil(t, rep.Salvage)
			require.Equal(t, c.Index, rep.Salvage.Damage.Index)
			require.Equal(t, []uint64{c.Index, n}, []uint64{rep.Salvage.RemovedFrom, rep.Salvage.RemovedTo})
			require.Equal(t, []uint64{1, c.Index - 1}, []uint64{rep.First, rep.Last})

			verified, err := waltool.Verify(ctx, cfg)
			require.NoError(t, err)
			require.Nil(t, verified.Problem)
			require.Equal(t, c.Index-1, verified.Last)
		})
	}
}

func requireCorruptAt(t *testing.T, p *waltool.Problem, c damage.Corruption) {
	t.Helper()
	require.NotNil(t, p)
	require.False(t, p.Torn)
	require.Equal(t, c.Index, p.Err.Index)
	require.Equal(t, c.File, p.Err.File)
	require.ErrorIs(t, p.Err, backend.ErrCorrupt)
}

// TestLocked runs every tool against a log whose lock is held, first by an
// open WAL, then by the lock alone, which is what every Open takes first
// (backend.LockDir). Only with the lock alone are the files checked byte for
// byte: an open WAL may change its own files while it holds the lock (Pebble
// deletes the OPTIONS file its Open superseded from a background goroutine
// after Open returns, and flushes and compacts when it likes), so a change
// seen beside a live WAL could be the WAL's, not the tools', and even reading
// its files races those deletes. With the lock alone nothing but the tools
// can write there.
func TestLocked(t *testing.T) {
	holders := []struct {
		name      string
		hold      func(t *testing.T, cfg backend.Config) io.Closer
		unchanged bool
	}{
		{"open", func(t *testing.T, cfg backend.Config) io.Closer {
			w, err := backend.Open(ctx, cfg)
			require.NoError(t, err)
			return w
		}, false},
		{"lock", func(t *testing.T, cfg backend.Config) io.Closer {
			lock, err := backend.LockDir(cfg, true)
			require.NoError(t, err)
			return lock
		}, true},
	}
	for _, name := range damage.Backends() {
		for _, h := range holders {
			t.Run(name+"/"+h.name, func(t *testing.T) {
				dir := t.TempDir()
				damage.Torn(t, name, dir, n)
				cfg := damage.Config(name, dir)
				holder := h.hold(t, cfg)
				defer holder.Close()
				var before map[string]string
				if h.unchanged {
					before = damage.Files(t, dir)
				}

				_, err := waltool.Verify(ctx, cfg)
				require.ErrorIs(t, err, backend.ErrLocked)
				_, err = waltool.Stats(ctx, cfg)
				require.ErrorIs(t, err, backend.ErrLocked)
				var out bytes.Buffer
				_, err = waltool.Dump(ctx, cfg, 0, 0, &out)
				require.ErrorIs(t, err, backend.ErrLocked)
				require.Zero(t, out.Len())
				_, err = waltool.Repair(ctx, cfg, false)
				require.ErrorIs(t, err, backend.ErrLocked)
				_, err = waltool.Repair(ctx, cfg, true)
				require.ErrorIs(t, err, backend.ErrLocked)
				if h.unchanged {
					requireUnchanged(t, before, dir, "a locked log is left alone")
				}
			})
		}
	}
}
