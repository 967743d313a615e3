package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/internal/damage"
)

const walN = 40

// runWAL runs `nautilus wal args...` in-process and returns its exit status,
// stdout and stderr.
func runWAL(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := walCommand(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// walRun runs one subcommand on the log in dir.
func walRun(t *testing.T, sub, name, dir string, flags ...string) (int, string, string) {
	t.Helper()
	return runWAL(t, append([]string{sub, "--backend", name, "--dir", dir}, flags...)...)
}

func lines(s string) int { return strings.Count(s, "\n") }

func TestWALHealthy(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			damage.Healthy(t, name, dir, walN)
			code, out, _ := walRun(t, "verify", name, dir)
			require.Equal(t, 0, code, out)
			require.Regexp(t, `^ok: records 1 to 40 \(40 records\), \d+ bytes in \d+ files\n$`, out)

			code, out, _ = walRun(t, "stats", name, dir)
			require.Equal(t, 0, code, out)
			require.Regexp(t, `(?m)^records +40$`, out)
			require.Regexp(t, `(?m)^FILE +BYTES +RECORDS$`, out)

			code, out, errOut := walRun(t, "dump", name, dir)
			require.Equal(t, 0, code, errOut)
			require.Equal(t, walN, lines(out))
			require.True(t, strings.HasPrefix(out, `{"index":1,"data":{"op":"assert","session":"s1","seq":1}}`+"\n"), out)
			require.Contains(t, out, `{"index":3,"base64":"AAMK/wB7"}`)

			code, out, _ = walRun(t, "dump", name, dir, "--from", "39")
			require.Equal(t, 0, code)
			require.Equal(t, 2, lines(out))

			code, out, _ = walRun(t, "repair", name, dir)
			require.Equal(t, 0, code, out)
			require.Equal(t, "nothing to repair\nthe log holds records 1 to 40 (40 records)\n", out)
		})
	}
}

func TestWALTorn(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tear := damage.Torn(t, name, dir, walN)
			at := fmt.Sprintf("%s at offset %d, index %d", tear.File, tear.Offset, walN)

			code, out, _ := walRun(t, "verify", name, dir)
			if tear.Visible {
				require.Equal(t, 1, code, out)
				require.Contains(t, out, fmt.Sprintf("torn tail: %s: %d bytes", at, tear.Bytes))
				require.Contains(t, out, "repairable: the next open cuts it off, or run: nautilus wal repair --backend "+name+" --dir "+dir)
			} else {
				require.Equal(t, 0, code, out)
				require.Contains(t, out, "ok: records 1 to 39")
			}

			code, out, _ = walRun(t, "stats", name, dir)
			require.Equal(t, 0, code, "a torn tail is no reason to fail stats: %s", out)
			require.Regexp(t, `(?m)^last +39$`, out)
			require.Equal(t, tear.Visible, strings.Contains(out, "torn tail: "+at))

			code, out, errOut := walRun(t, "dump", name, dir)
			require.Equal(t, 0, code, errOut)
			require.Equal(t, walN-1, lines(out))
			require.Equal(t, tear.Visible, strings.Contains(errOut, "the log ends in a torn tail, not dumped: "+at), errOut)

			code, out, _ = walRun(t, "repair", name, dir)
			require.Equal(t, 0, code, out)
			if tear.Visible {
				require.Contains(t, out, fmt.Sprintf("cut a torn tail: %s: %d bytes", at, tear.Bytes))
			} else {
				require.Contains(t, out, "nothing to repair")
			}
			require.Contains(t, out, "the log holds records 1 to 39 (39 records)")

			code, out, _ = walRun(t, "verify", name, dir)
			require.Equal(t, 0, code, out)
		})
	}
}

func TestWALCorrupt(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := damage.Corrupt(t, name, dir, walN)
			hint := "nautilus wal repair --backend " + name + " --dir " + dir + " --truncate-after-corruption"

			code, out, _ := walRun(t, "verify", name, dir)
			require.Equal(t, 1, code, out)
			require.Regexp(t, `^corrupt: `+c.File+`( at offset \d+)?( key 720+3)?, index 3: `, out)
			require.Contains(t, out, hint)

			code, out, _ = walRun(t, "stats", name, dir)
			if name == "jsonl" { // its Open checks every record; tidwall's only the ends of a sealed segment
				require.Equal(t, 1, code, out)
				require.Contains(t, out, "corrupt: "+c.File)
			} else {
				require.Equal(t, 0, code, out)
			}

			code, _, errOut := walRun(t, "dump", name, dir)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "nautilus wal dump: wal: corrupt record in "+c.File)
			require.Contains(t, errOut, "(index 3)")
			require.Contains(t, errOut, "run `nautilus wal verify --backend "+name)

			code, out, _ = walRun(t, "repair", name, dir)
			require.Equal(t, 1, code, out)
			require.Contains(t, out, hint)

			code, out, errOut = walRun(t, "repair", name, dir, "--truncate-after-corruption")
			require.Equal(t, 0, code, out+errOut)
			require.Contains(t, out, "corrupt: "+c.File)
			require.Contains(t, out, "removed indexes 3 to 40 (the highest found), ")
			require.Contains(t, out, "copy kept as ")
			require.True(t, strings.HasSuffix(out, "the log holds records 1 to 2 (2 records)\n"), out)

			code, out, _ = walRun(t, "verify", name, dir)
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "ok: records 1 to 2 (2 records)")
		})
	}
}

func TestWALLocked(t *testing.T) {
	for _, name := range damage.Backends() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			damage.Corrupt(t, name, dir, walN)
			w, err := backend.Open(context.Background(), damage.Config(name, dir))
			if name == "jsonl" {
				// Open refuses a corrupt log, so hold the lock as a tool does.
				require.ErrorIs(t, err, backend.ErrCorrupt)
				lock, err := backend.LockDir(damage.Config(name, dir), false)
				require.NoError(t, err)
				defer lock.Close()
			} else {
				require.NoError(t, err)
				defer w.Close()
			}
			for _, args := range [][]string{{"verify"}, {"stats"}, {"dump"}, {"repair"}, {"repair", "--truncate-after-corruption"}} {
				code, out, errOut := walRun(t, args[0], name, dir, args[1:]...)
				require.Equal(t, 1, code, "%v: %s", args, out)
				require.Contains(t, errOut, "nautilus wal "+args[0]+": wal: directory locked by another writer: "+dir+"\n", args)
				require.Contains(t, errOut, "a process has the WAL open")
			}
		})
	}
}

func TestWALParamsReachTheBackend(t *testing.T) {
	dir := t.TempDir()
	damage.Healthy(t, "jsonl", dir, walN)
	code, out, _ := walRun(t, "verify", "jsonl", dir, "--param", "segment_bytes=1KiB")
	require.Equal(t, 0, code, out)
	code, _, errOut := walRun(t, "verify", "jsonl", dir, "--param", "no_such_param=1")
	require.Equal(t, 2, code, "refused before the log is opened")
	require.Contains(t, errOut, "unknown param no_such_param")
}

func TestWALRepairCutUnsupported(t *testing.T) {
	code, _, errOut := walRun(t, "repair", "memory", t.TempDir(), "--truncate-after-corruption")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "nautilus wal repair: waltool: backend memory cannot cut a log at corruption: unsupported operation\n")
}

// TestWALRekey encrypts a plaintext log with `nautilus wal rekey`, then
// rotates it to a second key, checking exit statuses and messages.
func TestWALRekey(t *testing.T) {
	dir, keys := filepath.Join(t.TempDir(), "wal"), t.TempDir()
	damage.Healthy(t, "jsonl", dir, walN)
	k1, k2 := filepath.Join(keys, "k1"), filepath.Join(keys, "k2")
	require.NoError(t, os.WriteFile(k1, bytes.Repeat([]byte{1}, backend.KeySize), 0o600))
	require.NoError(t, os.WriteFile(k2, bytes.Repeat([]byte{2}, backend.KeySize), 0o600))

	code, _, errOut := walRun(t, "rekey", "jsonl", dir)
	require.Equal(t, exitUsage, code, errOut)
	require.Contains(t, errOut, "--key is required")

	code, _, errOut = walRun(t, "rekey", "jsonl", dir, "--key", "k1=file:"+k1)
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, "--read-plaintext")

	code, out, errOut := walRun(t, "rekey", "jsonl", dir, "--key", "k1=file:"+k1, "--read-plaintext")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "rekeyed 40 records under key k1: the log holds records 1 to 40 (40 records)\n", out)

	code, _, errOut = walRun(t, "rekey", "jsonl", dir, "--key", "k2=file:"+k2)
	require.Equal(t, exitFailure, code)
	require.Contains(t, errOut, `"k1"`)

	code, _, errOut = walRun(t, "rekey", "jsonl", dir, "--key", "k1=file:"+k1, "--key", "k2=file:"+k2, "--active", "k2")
	require.Equal(t, 0, code, errOut)
	w, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: dir,
		Encryption: &backend.Encryption{Active: "k2", Keys: []backend.Key{{ID: "k2", Secret: bytes.Repeat([]byte{2}, backend.KeySize)}}}})
	require.NoError(t, err)
	require.NoError(t, w.Close())

	require.NoError(t, os.Chmod(k2, 0o644))
	code, _, errOut = walRun(t, "rekey", "jsonl", dir, "--key", "k2=file:"+k2)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "group or others")
}
