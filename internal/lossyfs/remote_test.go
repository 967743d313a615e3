package lossyfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs/faultfs"
	"github.com/nautilus-go/nautilus/internal/lossyfs"
)

// envServer switches a re-executed test binary into a server process.
const envServer = "NAUTILUS_LOSSYFS_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(envServer) {
	case "":
		os.Exit(m.Run())
	case "serve":
	case "mute": // never answers
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "chatty": // other output before and between answers
		fmt.Println("=== RUN   TestSomething")
		os.Stdout = chatty(os.Stdout)
	}
	if err := lossyfs.Serve(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// chatty returns a pipe into w that adds a stray line before every line.
func chatty(w *os.File) *os.File {
	r, pw, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			for _, line := range strings.SplitAfter(string(buf[:n]), "\n") {
				if line != "" {
					fmt.Fprintf(w, "stray output\n%s", line)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return pw
}

// startRemote starts this test binary as a server process in mode.
func startRemote(t *testing.T, mode string, timeout time.Duration) (*lossyfs.Remote, *exec.Cmd) {
	t.Helper()
	requireFUSE(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envServer+"="+mode)
	r, err := lossyfs.Start(cmd, timeout)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r, cmd
}

// isMountPoint reports whether dir is a mount point of this process's namespace.
func isMountPoint(t *testing.T, dir string) bool {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func TestRemotePowerCutAndReboot(t *testing.T) {
	r, _ := startRemote(t, "serve", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{Sync: 2, After: true}))

	f, err := os.Create(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	syncDir(t, dir) // fsync 1
	_, err = f.Write([]byte("acknowledged"))
	require.NoError(t, err)
	require.NoError(t, f.Sync(), "fsync 2, the one the power cut follows, succeeds")
	_, err = f.Write([]byte(" never"))
	assert.True(t, errors.Is(err, syscall.EIO), "after the cut every write fails: %v", err)
	syncs, err := r.Syncs()
	require.NoError(t, err)
	assert.Equal(t, 2, syncs)
	f.Close()
	require.NoError(t, r.Unmount())
	assert.False(t, isMountPoint(t, dir))

	at, err := r.Reboot()
	require.NoError(t, err)
	assert.Equal(t, faultfs.OpSync, at.Op)
	assert.Equal(t, 1, at.N, "the first file fsync")
	assert.True(t, at.After)
	assert.Equal(t, "/wal", at.Path)
	assert.Positive(t, at.Seq)
	got, err := os.ReadFile(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	assert.Equal(t, "acknowledged", string(got), "only what was fsync'd survives")

	// A reboot without a cut keeps what was fsync'd up to the unmount.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "unsynced"), []byte("x"), 0o644))
	require.NoError(t, r.Unmount())
	at, err = r.Reboot()
	require.NoError(t, err)
	assert.Zero(t, at.Seq, "the power was never cut")
	got, err = os.ReadFile(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	assert.Equal(t, "acknowledged", string(got))
	_, err = os.Stat(filepath.Join(dir, "unsynced"))
	assert.True(t, errors.Is(err, os.ErrNotExist), "a file whose directory was not fsync'd is lost: %v", err)
	require.NoError(t, r.Unmount())
	require.NoError(t, r.Close())
}

func TestRemotePowerCutBeforeFsync(t *testing.T) {
	r, _ := startRemote(t, "serve", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{Sync: 3}))
	f, err := os.Create(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	defer f.Close()
	syncDir(t, dir) // fsync 1
	_, err = f.Write([]byte("acknowledged"))
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // fsync 2
	_, err = f.Write([]byte(" written"))
	require.NoError(t, err, "the power is still on")
	err = f.Sync()
	assert.True(t, errors.Is(err, syscall.EIO), "fsync 3, cut before it runs, fails: %v", err)
	syncs, err := r.Syncs()
	require.NoError(t, err)
	assert.Equal(t, 2, syncs, "fsync 3 never completed")
	f.Close()
	require.NoError(t, r.Unmount())

	at, err := r.Reboot()
	require.NoError(t, err)
	assert.Equal(t, faultfs.OpSync, at.Op)
	assert.Equal(t, 2, at.N, "the second file fsync")
	assert.False(t, at.After)
	got, err := os.ReadFile(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	assert.Equal(t, "acknowledged", string(got), "the write before the failed fsync is lost")
	require.NoError(t, r.Unmount())
}

// TestRemoteServesMappedFiles reads a file through mmap while this process
// grows its heap, which needs the address-space lock that a page fault on the
// mapping holds while it waits for the server.
func TestRemoteServesMappedFiles(t *testing.T) {
	r, _ := startRemote(t, "serve", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{}))
	const size = 4 << 20
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	name := filepath.Join(dir, "mapped")
	require.NoError(t, os.WriteFile(name, want, 0o644))

	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	require.NoError(t, err)
	stop := make(chan struct{})
	grown := make(chan int)
	go func() {
		var keep [][]byte
		for {
			select {
			case <-stop:
				grown <- len(keep)
				return
			default:
				keep = append(keep, make([]byte, 1<<20))
				if len(keep) == 64 {
					keep = nil
					runtime.GC()
				}
			}
		}
	}()
	for off := 0; off < size; off += 4096 {
		if !bytes.Equal(m[off:off+4096], want[off:off+4096]) {
			t.Errorf("page at %d read through the mapping differs", off)
			break
		}
	}
	close(stop)
	<-grown
	require.NoError(t, syscall.Munmap(m))
	require.NoError(t, f.Close())
	require.NoError(t, r.Unmount(), "nothing is left open")
}

func TestRemoteUnmountBusy(t *testing.T) {
	r, _ := startRemote(t, "serve", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{}))
	f, err := os.Create(filepath.Join(dir, "leaked"))
	require.NoError(t, err)
	err = r.Unmount()
	assert.True(t, errors.Is(err, lossyfs.ErrBusy), "an open descriptor keeps the mount busy: %v", err)
	assert.False(t, isMountPoint(t, dir), "the busy mount is detached")
	f.Close() // the connection is aborted, so this cannot hang
	_, err = r.Reboot()
	require.NoError(t, err, "a busy unmount leaves the server usable")
	require.NoError(t, r.Unmount())
}

func TestRemoteReportsServerErrors(t *testing.T) {
	r, _ := startRemote(t, "serve", 30*time.Second)
	_, err := r.Reboot()
	assert.ErrorContains(t, err, "nothing was mounted")
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{}))
	assert.ErrorContains(t, r.Mount(t.TempDir(), lossyfs.Cut{}), "still mounted")
	_, err = r.Syncs()
	require.NoError(t, err, "an error the server reports does not break the Remote")
	require.NoError(t, r.Unmount())
}

func TestRemoteSkipsOtherOutput(t *testing.T) {
	r, _ := startRemote(t, "chatty", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{}))
	syncs, err := r.Syncs()
	require.NoError(t, err)
	assert.Zero(t, syncs)
	require.NoError(t, r.Unmount())
}

func TestRemoteStartDeadline(t *testing.T) {
	requireFUSE(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envServer+"=mute")
	start := time.Now()
	_, err = lossyfs.Start(cmd, 200*time.Millisecond)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "a server that never answers: %v", err)
	assert.Less(t, time.Since(start), 10*time.Second)
	require.NotNil(t, cmd.ProcessState, "Start waited for the killed server")
}

// TestRemoteServerDies kills the server with a file open on its mount: calls
// on the mount and to the Remote fail instead of hanging, and Close removes
// the mount.
func TestRemoteServerDies(t *testing.T) {
	r, cmd := startRemote(t, "serve", 30*time.Second)
	dir := t.TempDir()
	require.NoError(t, r.Mount(dir, lossyfs.Cut{}))
	f, err := os.Create(filepath.Join(dir, "open"))
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())

	_, err = r.Syncs()
	assert.Error(t, err, "the server is gone")
	_, err = f.Write([]byte("x"))
	assert.True(t, errors.Is(err, syscall.ENOTCONN), "the connection died with the server: %v", err)
	f.Close()
	assert.True(t, isMountPoint(t, dir))
	assert.Error(t, r.Close(), "the server did not quit")
	assert.False(t, isMountPoint(t, dir), "Close detached the mount")
	require.NoError(t, r.Close(), "Close is idempotent")
}
