package backend_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
)

// checkingDriver is a driver that implements Inspector and Salvager itself,
// as a custom backend may; it records the config each was called with.
type checkingDriver struct {
	inspected, salvaged *backend.Config
}

func (checkingDriver) Open(context.Context, backend.Config) (backend.WAL, error) {
	panic("checking driver opened")
}

func (d checkingDriver) Inspect(_ context.Context, cfg backend.Config) (backend.Inspection, error) {
	*d.inspected = cfg
	return backend.Inspection{First: 4, Last: 9}, nil
}

func (d checkingDriver) Salvage(_ context.Context, cfg backend.Config) (backend.SalvageReport, error) {
	*d.salvaged = cfg
	return backend.SalvageReport{First: 4, Last: 6}, nil
}

type inspectFunc func(context.Context, backend.Config) (backend.Inspection, error)

func (f inspectFunc) Inspect(ctx context.Context, cfg backend.Config) (backend.Inspection, error) {
	return f(ctx, cfg)
}

func TestInspectAndSalvageFindTheDriversOwnImplementation(t *testing.T) {
	var inspected, salvaged backend.Config
	name := freshName("checking")
	backend.Register(name, checkingDriver{inspected: &inspected, salvaged: &salvaged})
	require.True(t, backend.HasInspector(name))
	require.True(t, backend.HasSalvager(name))

	dir := t.TempDir()
	params := map[string]string{backend.ParamSlowSyncThreshold: "2s", "own": "x"}
	in, err := backend.Inspect(t.Context(), backend.Config{Backend: name, Dir: dir, Params: params})
	require.NoError(t, err)
	require.Equal(t, backend.Inspection{First: 4, Last: 9}, in)
	require.Equal(t, map[string]string{"own": "x"}, inspected.Params, "the driver sees only its own params")

	rep, err := backend.Salvage(t.Context(), backend.Config{Backend: name, Dir: dir, Params: params})
	require.NoError(t, err)
	require.Equal(t, uint64(6), rep.Last)
	require.Equal(t, map[string]string{"own": "x"}, salvaged.Params)
}

func TestRegisteredInspectorServesADriverWithout(t *testing.T) {
	name := freshName("plain")
	backend.Register(name, unopenedDriver)
	require.False(t, backend.HasInspector(name))
	called := false
	backend.RegisterInspector(name, inspectFunc(func(context.Context, backend.Config) (backend.Inspection, error) {
		called = true
		return backend.Inspection{}, nil
	}))
	require.True(t, backend.HasInspector(name))
	_, err := backend.Inspect(t.Context(), backend.Config{Backend: name, Dir: t.TempDir()})
	require.NoError(t, err)
	require.True(t, called)

	require.Panics(t, func() { backend.RegisterInspector(name, inspectFunc(nil)) }, "duplicate")
	require.Panics(t, func() { backend.RegisterInspector("", inspectFunc(nil)) }, "empty name")
	require.Panics(t, func() { backend.RegisterSalvager(freshName("nil"), nil) }, "nil salvager")
}

func TestInspectAndSalvageUnsupported(t *testing.T) {
	name := freshName("bare")
	backend.Register(name, unopenedDriver)
	require.False(t, backend.HasSalvager(name))
	_, err := backend.Inspect(t.Context(), backend.Config{Backend: name, Dir: t.TempDir()})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	_, err = backend.Salvage(t.Context(), backend.Config{Backend: name, Dir: t.TempDir()})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, name)

	_, err = backend.Inspect(t.Context(), backend.Config{Backend: "no-such-backend", Dir: t.TempDir()})
	require.ErrorContains(t, err, "forgotten import?")
	require.False(t, backend.HasInspector("no-such-backend"))
}

func TestInspectAndSalvageRefuseWhileAWALHoldsTheLock(t *testing.T) {
	var inspected, salvaged backend.Config
	name := freshName("locked")
	backend.Register(name, checkingDriver{inspected: &inspected, salvaged: &salvaged})
	dir := t.TempDir()
	w, err := backend.Open(t.Context(), backend.Config{Backend: "memory", Dir: dir})
	require.NoError(t, err)
	defer w.Close()

	_, err = backend.Inspect(t.Context(), backend.Config{Backend: name, Dir: dir})
	require.ErrorIs(t, err, backend.ErrLocked)
	_, err = backend.Salvage(t.Context(), backend.Config{Backend: name, Dir: dir})
	require.ErrorIs(t, err, backend.ErrLocked)
	require.Empty(t, inspected.Dir, "the inspector never ran")
	require.Empty(t, salvaged.Dir, "the salvager never ran")
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	cfg := backend.Config{Backend: "memory", Dir: dir}

	// Without create, a directory no WAL ever opened stays as it is.
	lock, err := backend.LockDir(cfg, false)
	require.NoError(t, err)
	require.NoError(t, lock.Close())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	_, err = backend.LockDir(backend.Config{Backend: "memory", Dir: filepath.Join(dir, "missing")}, false)
	require.ErrorIs(t, err, os.ErrNotExist)

	lock, err = backend.LockDir(cfg, true)
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, backend.LockFileName))
	_, err = backend.Open(t.Context(), cfg)
	require.ErrorIs(t, err, backend.ErrLocked, "a WAL cannot open a directory a tool holds")
	_, err = backend.LockDir(cfg, false)
	require.ErrorIs(t, err, backend.ErrLocked)
	require.NoError(t, lock.Close())

	w, err := backend.Open(t.Context(), cfg)
	require.NoError(t, err)
	_, err = backend.LockDir(cfg, false)
	require.ErrorIs(t, err, backend.ErrLocked)
	require.ErrorContains(t, err, dir)
	require.NoError(t, w.Close())
}

func TestDamageCorruptionSaysWhyItIsNotTorn(t *testing.T) {
	bad := &backend.CorruptError{File: "f", Offset: 10, Index: 3, Reason: "checksum mismatch"}
	older := backend.Damage{Err: bad, LastFile: false}
	require.Contains(t, older.Corruption().Reason, "older than the last")
	followed := backend.Damage{Err: bad, LastFile: true, ValidAfter: true}
	got := followed.Corruption()
	require.Contains(t, got.Reason, "followed by a valid record")
	require.ErrorIs(t, got, backend.ErrCorrupt)
	require.Equal(t, "checksum mismatch", bad.Reason, "the damage itself is left as it was")
	require.Equal(t, int64(10), got.Offset)

	var claimed backend.Damage
	claimed.Err, claimed.LastFile = bad, true
	claimed.Observe(9, 90, 2)
	require.True(t, claimed.Torn(), "a record claiming index 2 durable says nothing of index 3")
	claimed.Observe(8, 80, backend.NoClaim-1)
	claimed.Observe(7, 70, 3)
	require.False(t, claimed.Torn())
	require.Contains(t, claimed.Corruption().Reason, "record 8 at offset 80, written after it, claims the log durable through index 18446744073709551614")
}

func TestInspectAndSalvageRefuseADoneContext(t *testing.T) {
	var inspected, salvaged backend.Config
	name := freshName("cancelled")
	backend.Register(name, checkingDriver{inspected: &inspected, salvaged: &salvaged})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := backend.Inspect(ctx, backend.Config{Backend: name, Dir: t.TempDir()})
	require.ErrorIs(t, err, context.Canceled)
	_, err = backend.Salvage(ctx, backend.Config{Backend: name, Dir: t.TempDir()})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, inspected.Dir)
	require.Empty(t, salvaged.Dir)
}
