package backend_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/stretchr/testify/require"
)

// unopenedDriver opens nothing; the registry tests never open it.
var unopenedDriver = backend.DriverFunc(func(context.Context, backend.Config) (backend.WAL, error) {
	panic("registry test driver opened")
})

func TestRegisterPanics(t *testing.T) {
	require.Panics(t, func() { backend.Register("", unopenedDriver) }, "empty name")
	require.Panics(t, func() { backend.Register("registry-test-nil", nil) }, "nil driver")
	require.NotContains(t, backend.Drivers(), "registry-test-nil")

	backend.Register("registry-test-dup", unopenedDriver)
	require.Panics(t, func() { backend.Register("registry-test-dup", unopenedDriver) }, "duplicate name")
	require.Panics(t, func() { backend.Register("memory", unopenedDriver) }, "a built-in name")
}

func TestDriversSorted(t *testing.T) {
	backend.Register("zz-registry-test", unopenedDriver)
	backend.Register("aa-registry-test", unopenedDriver)
	names := backend.Drivers()
	require.True(t, slices.IsSorted(names), "Drivers() = %v", names)
	for _, want := range []string{"aa-registry-test", "memory", "zz-registry-test"} {
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
