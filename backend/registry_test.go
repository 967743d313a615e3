package backend_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/stretchr/testify/require"
)

// registered counts the test's registrations: the registry is global and
// keeps its names, so each run (go test -count=N) needs fresh ones.
var registered atomic.Int64

func freshName(prefix string) string {
	return fmt.Sprintf("%s-registry-test-%d", prefix, registered.Add(1))
}

// unopenedDriver opens nothing; the registry tests never open it.
var unopenedDriver = backend.DriverFunc(func(context.Context, backend.Config) (backend.WAL, error) {
	panic("registry test driver opened")
})

func TestRegisterPanics(t *testing.T) {
	require.Panics(t, func() { backend.Register("", unopenedDriver) }, "empty name")
	nilName := freshName("nil")
	require.Panics(t, func() { backend.Register(nilName, nil) }, "nil driver")
	require.NotContains(t, backend.Drivers(), nilName)

	dup := freshName("dup")
	backend.Register(dup, unopenedDriver)
	require.Panics(t, func() { backend.Register(dup, unopenedDriver) }, "duplicate name")
	require.Panics(t, func() { backend.Register("memory", unopenedDriver) }, "a built-in name")
}

func TestDriversSorted(t *testing.T) {
	zz, aa := freshName("zz"), freshName("aa")
	backend.Register(zz, unopenedDriver)
	backend.Register(aa, unopenedDriver)
	names := backend.Drivers()
	require.True(t, slices.IsSorted(names), "Drivers() = %v", names)
	for _, want := range []string{aa, "memory", zz} {
		require.Contains(t, names, want)
	}
}

func TestOpenUnknownDriver(t *testing.T) {
	dir := t.TempDir()
	_, err := backend.Open(t.Context(), backend.Config{Backend: "no-such-backend", Dir: dir})
	require.Error(t, err)
	require.ErrorContains(t, err, `"no-such-backend"`)
	require.ErrorContains(t, err, "forgotten import?")
	for _, name := range backend.Drivers() {
		require.ErrorContains(t, err, name, "the error lists the registered drivers")
	}
}

func TestDriverFunc(t *testing.T) {
	var got backend.Config
	d := backend.DriverFunc(func(_ context.Context, cfg backend.Config) (backend.WAL, error) {
		got = cfg
		return nil, context.Canceled
	})
	cfg := backend.Config{Backend: "f", Dir: "d"}
	_, err := d.Open(t.Context(), cfg)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, cfg.Dir, got.Dir)
}
