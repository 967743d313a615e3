package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/bench"
)

// TestEveryBuiltInBackendIsARow checks that the command's default run covers
// every built-in backend next to the baselines.
func TestEveryBuiltInBackendIsARow(t *testing.T) {
	for _, name := range []string{"memory", "jsonl", "tidwall", "pebble", "bbolt"} {
		assert.Contains(t, backend.Drivers(), name)
		assert.Contains(t, bench.DefaultOptions().Backends, name)
	}
	for _, name := range []string{bench.Fdatasync, bench.TidwallRaw, bench.PebbleRaw, bench.BboltRaw} {
		assert.Contains(t, bench.DefaultOptions().Backends, name)
	}
}
