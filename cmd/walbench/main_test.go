package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/bench"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// the exit status os.Exit gives the shell is what the tests check.
const runMainEnv = "WALBENCH_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestEveryBuiltInBackendIsARow checks that the command's default run covers
// every built-in backend next to the baselines.
func TestEveryBuiltInBackendIsARow(t *testing.T) {
	for _, name := range []string{"memory", "jsonl", "tidwall", "pebble", "bbolt"} {
		assert.Contains(t, backend.Drivers(), name)
		assert.Contains(t, bench.DefaultOptions().Backends, name)
	}
	for _, name := range []string{bench.Fdatasync, bench.FdatasyncPrealloc, bench.TidwallRaw, bench.PebbleRaw, bench.BboltRaw} {
		assert.Contains(t, bench.DefaultOptions().Backends, name)
	}
}

// TestExitStatus runs the command as a process: help 0, a bad command line
// 2, a failure while running 1.
func TestExitStatus(t *testing.T) {
	tiny := []string{"-backends", "memory", "-workload", "append", "-ops", "20", "-concurrency", "1", "-rounds", "1"}
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	cases := []struct {
		name   string
		args   []string
		want   int
		stderr string // what the message must contain
	}{
		{"--help", []string{"--help"}, bench.ExitOK, "Usage: walbench"},
		{"-h", []string{"-h"}, bench.ExitOK, "Usage: walbench"},
		{"a bad value", []string{"-ops", "0"}, bench.ExitUsage, "-ops"},
		{"an unknown flag", []string{"-nosuch"}, bench.ExitUsage, "-nosuch"},
		{"a missing -dir", []string{"-dir", missing}, bench.ExitUsage, missing},
		{"a tiny run", tiny, bench.ExitOK, "append memory writers=1"},
		{"a report that cannot be written", append(tiny, "-o", "/dev/full"), bench.ExitError, "write report"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want == bench.ExitError {
				if _, err := os.Stat("/dev/full"); err != nil {
					t.Skipf("needs /dev/full to fail a write: %v", err)
				}
			}
			cmd := exec.Command(os.Args[0], c.args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, c.want, code, "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), c.stderr)
		})
	}
}
