package lossyfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs/crashfs"
)

// TestUnmountBusyWithoutAbort takes down a busy mount whose connection cannot
// be aborted (no control file for it): the mount is detached all the same,
// keeps serving the open file, and its server stops once the file is closed.
func TestUnmountBusyWithoutAbort(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip("FUSE unavailable: " + err.Error())
	}
	dir := t.TempDir()
	srv, err := Mount(dir, crashfs.New())
	require.NoError(t, err)
	t.Cleanup(func() { srv.Unmount() })
	srv.ctl = t.TempDir() // holds no <connection>/abort
	f, err := os.Create(filepath.Join(dir, "leaked"))
	require.NoError(t, err)
	defer f.Close()

	err = srv.Unmount()
	assert.True(t, errors.Is(err, ErrBusy), "an open descriptor keeps the mount busy: %v", err)
	assert.True(t, errors.Is(err, syscall.EBUSY), "umount's errno is kept: %v", err)
	assert.ErrorContains(t, err, "abort connection")
	_, cerr := connection(dir)
	assert.Error(t, cerr, "the busy mount is detached, not left in /proc/self/mountinfo")

	_, err = f.Write([]byte("still served"))
	require.NoError(t, err, "the detached mount serves the file open on it")
	require.NoError(t, f.Close())
	srv.server.Wait() // closing the last file ends the connection, and so the server
}
