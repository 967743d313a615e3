package backend_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/stretchr/testify/require"
)

func paramsOf(kv ...string) *backend.Params {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return backend.NewParams(backend.Config{Backend: "test", Params: m})
}

func TestParamsValues(t *testing.T) {
	p := paramsOf("name", "x", "size", "64MiB", "small", "4096", "on", "true", "wait", "500us")
	require.Equal(t, "x", p.String("name", "def"))
	require.EqualValues(t, 64<<20, p.Int64("size", 1))
	require.EqualValues(t, 4096, p.Int64("small", 1))
	require.True(t, p.Bool("on", false))
	require.Equal(t, 500*time.Microsecond, p.Duration("wait", time.Second))
	// Absent keys give the defaults.
	require.Equal(t, "def", p.String("absent", "def"))
	require.EqualValues(t, 7, p.Int64("absent-size", 7))
	require.True(t, p.Bool("absent-bool", true))
	require.Equal(t, time.Second, p.Duration("absent-wait", time.Second))
	require.NoError(t, p.Err())
}

func TestParamsUnknownKeysNamed(t *testing.T) {
	p := paramsOf("known", "1", "zeta", "2", "alpha", "3")
	p.Int64("known", 0)
	err := p.Err()
	require.Error(t, err)
	require.ErrorContains(t, err, "backend test")
	require.ErrorContains(t, err, "unknown param alpha, zeta")
}

func TestParamsBadValuesNamed(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		read       func(p *backend.Params)
	}{
		{"segment_bytes", "12XB", func(p *backend.Params) { p.Int64("segment_bytes", 0) }},
		{"segment_bytes", "-1", func(p *backend.Params) { p.Int64("segment_bytes", 0) }},
		{"no_sync", "maybe", func(p *backend.Params) { p.Bool("no_sync", false) }},
		{"delay", "soon", func(p *backend.Params) { p.Duration("delay", 0) }},
		{"delay", "-1s", func(p *backend.Params) { p.Duration("delay", 0) }},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			p := paramsOf(tc.key, tc.value)
			tc.read(p)
			err := p.Err()
			require.Error(t, err)
			require.ErrorContains(t, err, tc.key)
			require.ErrorContains(t, err, `"`+tc.value+`"`)
		})
	}
}

func TestParamsFirstBadValueWins(t *testing.T) {
	p := paramsOf("a", "bad", "b", "worse", "c", "unread")
	p.Int64("a", 0)
	p.Bool("b", false)
	err := p.Err()
	require.ErrorContains(t, err, "param a=")
	require.NotContains(t, err.Error(), "param b=")
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "1KiB": 1 << 10, "64MiB": 64 << 20, "2GiB": 2 << 30, "10B": 10} {
		got, err := backend.ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1TiB", "ten"} {
		_, err := backend.ParseSize(in)
		require.Error(t, err, in)
	}
}

func TestParseSyncMode(t *testing.T) {
	for in, want := range map[string]backend.SyncMode{"": backend.SyncAlways, "always": backend.SyncAlways, "none": backend.SyncNone} {
		got, err := backend.ParseSyncMode(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := backend.ParseSyncMode("sometimes")
	require.ErrorContains(t, err, `"sometimes"`)
	require.Equal(t, "always", backend.SyncAlways.String())
	require.Equal(t, "none", backend.SyncNone.String())
	require.Equal(t, "SyncMode(7)", backend.SyncMode(7).String())
}

// TestOpenDriverSharedParams checks that the wrapper reads its own params,
// rejects a bad one by name before the driver opens, and hides them from the
// driver, whose Params then reject only keys unknown to both.
func TestOpenDriverSharedParams(t *testing.T) {
	s := newSpy()
	open := func(p map[string]string) error {
		w, err := backend.OpenDriver(t.Context(), s, backend.Config{Backend: "spy", Dir: t.TempDir(), Params: p})
		if err == nil {
			w.Close()
		}
		return err
	}
	require.NoError(t, open(map[string]string{backend.ParamGroupCommitMaxDelay: "1us", backend.ParamSlowSyncThreshold: "0"}))
	require.Equal(t, 1, s.opens())

	err := open(map[string]string{backend.ParamGroupCommitMaxDelay: "soon"})
	require.ErrorContains(t, err, backend.ParamGroupCommitMaxDelay)
	require.Equal(t, 1, s.opens(), "the driver is not opened when a shared param is bad")

	err = open(map[string]string{"no_such_param": "1"})
	require.ErrorContains(t, err, "no_such_param")
}

func TestParamErrorIsTyped(t *testing.T) {
	for name, params := range map[string]map[string]string{
		"unknown": {"nope": "1"},
		"bad":     {"segment_bytes": "lots"},
	} {
		t.Run(name, func(t *testing.T) {
			p := backend.NewParams(backend.Config{Backend: "x", Params: params})
			p.Int64("segment_bytes", 1)
			var perr *backend.ParamError
			if err := p.Err(); !errors.As(err, &perr) {
				t.Fatalf("Err() = %v, want a *backend.ParamError", err)
			}
			if _, ok := params[perr.Key]; !ok {
				t.Fatalf("ParamError.Key = %q, want one of %v", perr.Key, params)
			}
		})
	}
}
