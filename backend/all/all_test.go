package all_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/all"
)

// Every built-in backend is registered, and each opens, appends and reopens
// by name alone.
func TestEveryBuiltinRegistered(t *testing.T) {
	builtin := []string{"bbolt", "jetstream", "jsonl", "memory", "pebble", "tidwall"}
	require.Subset(t, backend.Drivers(), builtin)
	ctx := context.Background()
	for _, name := range builtin {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			w, err := backend.Open(ctx, backend.Config{Backend: name, Dir: dir})
			require.NoError(t, err)
			last, err := w.Append(ctx, []byte("record"))
			require.NoError(t, err)
			require.Equal(t, uint64(1), last)
			require.NoError(t, w.Close())

			w, err = backend.Open(ctx, backend.Config{Backend: name, Dir: dir})
			require.NoError(t, err)
			defer w.Close()
			first, last, err := w.Bounds(ctx)
			require.NoError(t, err)
			require.Equal(t, [2]uint64{1, 1}, [2]uint64{first, last})
		})
	}
}

// Every built-in backend checks its params without touching the disk, and
// refuses what Open refuses with the same *backend.ParamError.
func TestEveryBuiltinChecksParams(t *testing.T) {
	for _, name := range []string{"bbolt", "jetstream", "jsonl", "memory", "pebble", "tidwall"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			require.NoError(t, backend.CheckParams(backend.Config{Backend: name, Dir: dir}))
			require.NoError(t, backend.CheckParams(backend.Config{Backend: name, Dir: dir,
				Params: map[string]string{backend.ParamGroupCommitMaxDelay: "1ms"}}))
			for _, params := range []map[string]string{
				{"no_such_param": "1"},
				{backend.ParamSlowSyncThreshold: "soon"},
			} {
				dir := filepath.Join(t.TempDir(), "wal")
				cfg := backend.Config{Backend: name, Dir: dir, Params: params}
				checkErr := backend.CheckParams(cfg)
				var perr *backend.ParamError
				require.ErrorAs(t, checkErr, &perr, "%v", params)
				require.NoDirExists(t, dir, "CheckParams touches nothing")

				_, openErr := backend.Open(context.Background(), cfg)
				require.Equal(t, openErr.Error(), checkErr.Error(), "refused as Open refuses it")
			}
		})
	}
	require.ErrorContains(t, backend.CheckParams(backend.Config{Backend: "no-such-backend"}), `"no-such-backend"`)
}
