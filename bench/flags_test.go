package bench

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/memory"
)

func TestParseFlagsErrorsNameTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		flag string // the flag the message must name
	}{
		{"zero ops", []string{"-ops", "0"}, "-ops"},
		{"negative size", []string{"-size", "-1"}, "-size"},
		{"zero batch", []string{"-batch", "0"}, "-batch"},
		{"zero count", []string{"-count", "0"}, "-count"},
		{"zero records", []string{"-records", "0"}, "-records"},
		{"not a number", []string{"-ops", "many"}, "-ops"},
		{"bad concurrency entry", []string{"-concurrency", "1,x"}, "-concurrency"},
		{"zero concurrency", []string{"-concurrency", "0"}, "-concurrency"},
		{"empty concurrency entry", []string{"-concurrency", "1,,8"}, "-concurrency"},
		{"unknown sync mode", []string{"-sync", "sometimes"}, "-sync"},
		{"unknown workload", []string{"-workload", "append,scan"}, "-workload"},
		{"unknown backend", []string{"-backends", "memory,nosuch"}, "-backends"},
		{"unknown format", []string{"-format", "xml"}, "-format"},
		{"unknown flag", []string{"-nosuch"}, "-nosuch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFlags(c.args, io.Discard)
			var usage *UsageError
			require.ErrorAs(t, err, &usage)
			assert.Contains(t, err.Error(), c.flag)
			assert.True(t, strings.HasPrefix(err.Error(), "walbench: "), "error %q has the package prefix", err)
		})
	}
}

func TestParseFlagsRejectsArguments(t *testing.T) {
	_, err := ParseFlags([]string{"jsonl"}, io.Discard)
	var usage *UsageError
	require.ErrorAs(t, err, &usage)
	assert.Contains(t, err.Error(), `"jsonl"`)
}

func TestParseFlagsDefaults(t *testing.T) {
	cmd, err := ParseFlags(nil, io.Discard)
	require.NoError(t, err)
	def := DefaultOptions()
	assert.Equal(t, def.Workloads, cmd.Workloads)
	assert.Equal(t, DefaultSubjects(), cmd.Backends, "every backend and baseline that runs no server")
	assert.Equal(t, []int{1, 64}, cmd.Concurrency)
	assert.Equal(t, []backend.SyncMode{backend.SyncAlways}, cmd.Sync)
	assert.Equal(t, 100_000, cmd.Records, "the default run replays a small log")
	assert.Equal(t, FormatText, cmd.Format)

	cmd, err = ParseFlags([]string{"-workload", "replay"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1_000_000, cmd.Records, "an explicit replay run replays a million records")
}

func TestDefaultRunLeavesOutServers(t *testing.T) {
	cmd, err := ParseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.NotContains(t, cmd.Backends, "jetstream", "the embedded server is left out of the default run")
	assert.NotContains(t, cmd.Backends, JetStreamR3, "the cluster is left out of the default run")
	assert.Contains(t, cmd.Backends, "memory")
	assert.Contains(t, cmd.Backends, FdatasyncPrealloc)

	cmd, err = ParseFlags([]string{"-backends", "jetstream,jetstream-r3"}, io.Discard)
	require.NoError(t, err, "-backends still selects them")
	assert.Equal(t, []string{"jetstream", JetStreamR3}, cmd.Backends)
}

func TestParseFlagsReadsLists(t *testing.T) {
	cmd, err := ParseFlags([]string{"-backends", "memory, fdatasync", "-concurrency", "1,8,64",
		"-sync", "always,none", "-workload", "append,truncate", "-format", "bench", "-o", "out.txt"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"memory", "fdatasync"}, cmd.Backends)
	assert.Equal(t, []int{1, 8, 64}, cmd.Concurrency)
	assert.Equal(t, []backend.SyncMode{backend.SyncAlways, backend.SyncNone}, cmd.Sync)
	assert.Equal(t, []string{"append", "truncate"}, cmd.Workloads)
	assert.Equal(t, "out.txt", cmd.Output)
}

func TestParseFlagsHelpPrintsUsage(t *testing.T) {
	var out strings.Builder
	_, err := ParseFlags([]string{"-h"}, &out)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	assert.Contains(t, out.String(), "-concurrency")
	assert.Contains(t, out.String(), "fdatasync")
}

// TestUsagePrintsOneDefaultPerFlag guards against a usage string that states
// its default when the flag package appends "(default …)" too.
func TestUsagePrintsOneDefaultPerFlag(t *testing.T) {
	var out strings.Builder
	_, err := ParseFlags([]string{"-h"}, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	_, defaults, ok := strings.Cut(out.String(), "Flags:\n")
	require.True(t, ok, "usage has a Flags section:\n%s", out.String())
	// PrintDefaults starts each flag with "  -name" and indents its usage
	// text below; a flag's entry runs to the next one.
	entries := strings.Split(defaults, "\n  -")
	require.Greater(t, len(entries), 10, "one entry per flag:\n%s", defaults)
	for _, e := range entries {
		assert.LessOrEqual(t, strings.Count(e, "(default"), 1, "flag -%s states its default twice", e)
	}
	assert.Contains(t, defaults, "(default 1000000)", "-records states its own default once")
}

func TestSubjectsOrderPutsEachRawLibraryAfterItsBackend(t *testing.T) {
	got := orderSubjects([]string{"tidwall-raw", "pebble", "bbolt-raw", "memory", "fdatasync-prealloc", "jsonl",
		"fdatasync", "tidwall", "pebble-raw", "bbolt", "custom"})
	assert.Equal(t, []string{"fdatasync", "fdatasync-prealloc", "memory", "bbolt", "bbolt-raw", "custom", "jsonl",
		"pebble", "pebble-raw", "tidwall", "tidwall-raw"}, got)
}

func TestPlanRunsReplayOncePerBackendAndSkipsUnsupportedRows(t *testing.T) {
	o := DefaultOptions()
	o.Backends = []string{"memory", Fdatasync, FdatasyncPrealloc}
	o.Workloads = []string{WorkloadAppend, WorkloadReplay, WorkloadTruncate}
	o.Sync = []backend.SyncMode{backend.SyncAlways, backend.SyncNone}
	o.Concurrency = []int{1, 8}
	o.Count = 2
	rows, err := o.plan(nil)
	require.NoError(t, err)
	count := map[string]int{}
	for _, r := range rows {
		count[r.workload]++
		if r.workload == WorkloadTruncate {
			assert.Equal(t, "memory", r.subject.name, "a plain file has no front to drop")
		}
	}
	assert.Equal(t, 2*2*2*3, count[WorkloadAppend], "runs × modes × writers × backends")
	assert.Equal(t, 2*3, count[WorkloadReplay], "runs × backends: the sync mode changes no replay")
	assert.Equal(t, 2*2, count[WorkloadTruncate], "runs × modes × memory")
}

func TestParseFlagsStores(t *testing.T) {
	t.Setenv(EnvPGDSN, "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-workload", "broker", "-stores", "sqlite,postgres"}, "environment variable " + EnvPGDSN + " is empty"},
		{[]string{"-workload", "broker", "-stores", "sqlite,mysql"}, `unknown session store "mysql"`},
		{[]string{"-workload", "append", "-stores", "sqlite"}, "applies to the broker and broker-http workloads only"},
	} {
		_, err := ParseFlags(c.args, io.Discard)
		var usage *UsageError
		require.ErrorAs(t, err, &usage, "%v", c.args)
		assert.Equal(t, "stores", usage.Flag)
		assert.Contains(t, err.Error(), c.want)
	}

	cmd, err := ParseFlags([]string{"-workload", "broker"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{StoreSQLite}, cmd.Stores, "sqlite by default")

	t.Setenv(EnvPGDSN, "host=db.example dbname=bench")
	cmd, err = ParseFlags([]string{"-workload", "broker-http", "-stores", "postgres"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{StorePostgres}, cmd.Stores)
	assert.Equal(t, "host=db.example dbname=bench", cmd.PGDSN)
}
