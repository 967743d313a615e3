package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/audit"
	"github.com/nautilus-go/nautilus/backend"
)

// runCLI runs `nautilus args...` in-process and returns its exit status,
// stdout and stderr.
func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// usageCase is one bad usage: the arguments after the command's name and
// what the message must say.
type usageCase struct {
	args []string
	want string
}

// Every command and subcommand follows one convention: -h and --help print
// the usage to stdout and exit 0; bad usage names what is wrong on stderr
// and exits 2; a failure while running exits 1.
func TestExitStatusConvention(t *testing.T) {
	dir := t.TempDir()
	config := writeConfig(t, dir, registryA+"session_store: {backend: memory}\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	// A WAL held open by this process: every wal subcommand refuses it.
	walDir := filepath.Join(dir, "wal")
	w, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: walDir})
	require.NoError(t, err)
	defer w.Close()
	held := []string{"--backend", "jsonl", "--dir", walDir}
	// An audit trail held open likewise.
	auditDir := filepath.Join(dir, "audit")
	tr, err := audit.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: auditDir})
	require.NoError(t, err)
	defer tr.Close()
	heldAudit := []string{"--path", auditDir}
	auditUsage := func(sub string) []usageCase {
		d := t.TempDir()
		return []usageCase{
			{[]string{"--nope"}, "nautilus audit " + sub + ": flag provided but not defined: -nope"},
			{[]string{"--backend", "jsonl"}, "nautilus audit " + sub + ": --path is required"},
			{[]string{"--backend", "nope", "--path", d}, `nautilus audit ` + sub + `: --backend: unknown backend "nope" (registered: bbolt, jetstream, jsonl,`},
			{[]string{"--path", d, "--param", "novalue"}, `invalid value "novalue" for flag -param: want key=value, got "novalue"`},
			{[]string{"--path", d, "--param", "no_such=1"}, "nautilus audit " + sub + ": --param: backend jsonl: unknown param no_such"},
			{[]string{"--path", d, "extra"}, `nautilus audit ` + sub + `: unexpected argument "extra"`},
		}
	}
	keyFile := filepath.Join(dir, "k1.key")
	require.NoError(t, os.WriteFile(keyFile, bytes.Repeat([]byte{1}, backend.KeySize), 0o600))

	walUsage := func(sub string) []usageCase {
		d := t.TempDir()
		return []usageCase{
			{[]string{"--nope"}, "nautilus wal " + sub + ": flag provided but not defined: -nope"},
			{[]string{"--dir", d}, "nautilus wal " + sub + ": --backend is required"},
			{[]string{"--backend", "jsonl"}, "nautilus wal " + sub + ": --dir is required"},
			{[]string{"--backend", "nope", "--dir", d}, `nautilus wal ` + sub + `: --backend: unknown backend "nope" (registered: bbolt, jetstream, jsonl,`},
			{[]string{"--backend", "jsonl", "--dir", d, "--param", "novalue"}, `invalid value "novalue" for flag -param: want key=value, got "novalue"`},
			{[]string{"--backend", "jsonl", "--dir", d, "--param", "no_such=1"}, "nautilus wal " + sub + ": --param: backend jsonl: unknown param no_such"},
			{[]string{"--backend", "jsonl", "--dir", d, "--param", "segment_bytes=lots"}, `param segment_bytes="lots": want a size`},
			{[]string{"--backend", "jsonl", "--dir", d, "extra"}, `nautilus wal ` + sub + `: unexpected argument "extra"`},
		}
	}
	for _, tc := range []struct {
		cmd     string // the command and subcommand; "" for nautilus itself
		usage   []usageCase
		failure []string // arguments that make it fail while running; nil when it has no work of its own
	}{
		{"", []usageCase{
			{nil, "nautilus: missing command"},
			{[]string{"frobnicate"}, `nautilus: unknown command "frobnicate"`},
			{[]string{"--nope"}, `nautilus: unknown command "--nope"`},
			{[]string{"help", "frobnicate"}, `nautilus: unknown command "frobnicate"`},
		}, nil},
		{"serve", []usageCase{
			{[]string{"--nope"}, "nautilus serve: flag provided but not defined: -nope"},
			{[]string{"--bind", "127.0.0.1:0"}, "nautilus serve: --config is required"},
			{[]string{"--config", config, "--wal-enabled=maybe"}, `nautilus serve: invalid boolean value "maybe" for -wal-enabled`},
			{[]string{"--config", config, "--bind", "localhost"}, "nautilus serve: --bind: address localhost: missing port in address"},
			{[]string{"--config", config, "extra"}, `nautilus serve: unexpected argument "extra"`},
			{[]string{"--config", config, "--wal-enabled", "--wal-backend", "nope"}, `nautilus serve: --wal-backend: broker: config persistence.wal_backend: unknown backend "nope"`},
			{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml: no such file or directory"},
		}, []string{"--config", config, "--bind", busy.Addr().String()}},
		{"wal", []usageCase{
			{nil, "nautilus wal: missing command"},
			{[]string{"fsck"}, `nautilus wal: unknown command "fsck"`},
		}, nil},
		{"wal dump", append(walUsage("dump"), usageCase{[]string{"--backend", "jsonl", "--dir", dir, "--from", "x"}, `invalid value "x" for flag -from`}), held},
		{"wal verify", walUsage("verify"), held},
		{"wal repair", append(walUsage("repair"), usageCase{[]string{"--backend", "jsonl", "--dir", dir, "--truncate-after-corruption=perhaps"}, `invalid boolean value "perhaps"`}), held},
		{"wal stats", walUsage("stats"), held},
		{"audit", []usageCase{
			{nil, "nautilus audit: missing command"},
			{[]string{"follow"}, `nautilus audit: unknown command "follow"`},
		}, nil},
		{"audit verify", append(auditUsage("verify"), usageCase{[]string{"--path", dir, "--anchor", "7"}, `invalid value "7" for flag -anchor: audit: anchor "7": want SEQ:SHA256`}), heldAudit},
		{"audit tail", append(auditUsage("tail"), usageCase{[]string{"--path", dir, "-n", "-1"}, `invalid value "-1" for flag -n: want a count, 0 or more`}), heldAudit},
		{"wal rekey", append(walUsage("rekey"),
			usageCase{[]string{"--backend", "jsonl", "--dir", dir, "--key", "k1"}, `invalid value "k1" for flag -key: want ID=file:PATH or ID=env:VAR`},
			usageCase{[]string{"--backend", "jsonl", "--dir", dir, "--key", "k1=file:" + keyFile, "--active", "k9"}, `"k9": the active key is not among the configured keys`},
		), append(slices.Clone(held), "--key", "k1=file:"+keyFile)},
	} {
		t.Run(strings.TrimSpace("nautilus "+tc.cmd), func(t *testing.T) {
			cmd := strings.Fields(tc.cmd)
			for _, help := range [][]string{append(slices.Clone(cmd), "-h"), append(slices.Clone(cmd), "--help"), append([]string{"help"}, cmd...)} {
				code, out, errOut := runCLI(help...)
				require.Equal(t, exitOK, code, "%v: %s", help, errOut)
				require.True(t, strings.HasPrefix(out, "usage: nautilus "+tc.cmd), "%v: usage on stdout: %q", help, out)
				require.Empty(t, errOut, help)
			}
			for _, u := range tc.usage {
				args := append(slices.Clone(cmd), u.args...)
				code, out, errOut := runCLI(args...)
				require.Equal(t, exitUsage, code, "%v: %s", args, errOut)
				require.Contains(t, errOut, u.want, args)
				require.Empty(t, out, args)
			}
			if tc.failure != nil {
				args := append(slices.Clone(cmd), tc.failure...)
				code, _, errOut := runCLI(args...)
				require.Equal(t, exitFailure, code, "%v: %s", args, errOut)
			}
		})
	}
}

// The table above covers every registered command.
func TestExitStatusConventionCoversEveryCommand(t *testing.T) {
	var names []string
	for name := range commands {
		names = append(names, name)
	}
	for name := range walSubcommands {
		names = append(names, "wal "+name)
	}
	for name := range auditSubcommands {
		names = append(names, "audit "+name)
	}
	slices.Sort(names)
	require.Equal(t, []string{"audit", "audit tail", "audit verify", "serve", "wal", "wal dump", "wal rekey", "wal repair", "wal stats", "wal verify"}, names,
		"a new command needs its rows in TestExitStatusConvention")
}
