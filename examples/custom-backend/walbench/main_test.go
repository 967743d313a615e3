package main

import (
	"bytes"
	"regexp"
	"slices"
	"testing"

	"github.com/nautilus-go/nautilus/bench"
)

// The blank import is all it takes: walbench measures the custom backend
// under its registered name, in its default run and when named.
func TestCustomBackendIsARow(t *testing.T) {
	if !slices.Contains(bench.DefaultOptions().Backends, "sqlite") {
		t.Errorf("walbench's default backends %v leave out sqlite", bench.DefaultOptions().Backends)
	}

	var stdout, stderr bytes.Buffer
	args := []string{"-backends", "sqlite", "-workload", "append", "-ops", "50", "-concurrency", "1", "-dir", t.TempDir()}
	if code := bench.Main(t.Context(), args, &stdout, &stderr); code != bench.ExitOK {
		t.Fatalf("walbench %v exited %d:\n%s", args, code, stderr.String())
	}
	if row := regexp.MustCompile(`(?m)^\s+sqlite\s+1\s+\d+`); !row.Match(stdout.Bytes()) {
		t.Fatalf("walbench %v printed no sqlite row:\n%s", args, stdout.String())
	}
}
