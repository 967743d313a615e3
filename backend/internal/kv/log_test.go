package kv

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// openLog returns a Log opened at [first, last] in a fresh directory.
func openLog(t *testing.T, first, last uint64) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l := NewLog(store, VFSFiles(vfs.Default), dir)
	require.NoError(t, l.Open(first, last))
	return l, dir
}

func requireBounds(t *testing.T, l *Log, first, last uint64) {
	t.Helper()
	f, z := l.Bounds()
	require.Equal(t, [2]uint64{first, last}, [2]uint64{f, z})
}

var errWrite = errors.New("disk full")

func ok() error { return nil }

func TestLogAppendMovesLast(t *testing.T) {
	l, _ := openLog(t, 3, 5)
	var got []uint64
	for _, n := range []int{1, 4} {
		last, err := l.Append(n, func(next uint64) error {
			got = append(got, next)
			return nil
		})
		require.NoError(t, err)
		_, want := l.Bounds()
		require.Equal(t, want, last)
	}
	require.Equal(t, []uint64{6, 7}, got, "each write starts after the last index")
	requireBounds(t, l, 3, 10)
	require.False(t, l.Failed())
}

func TestLogAppendToAnEmptiedLog(t *testing.T) {
	l, _ := openLog(t, 8, 7)
	last, err := l.Append(2, func(next uint64) error {
		require.Equal(t, uint64(8), next, "the first index is the next one")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, uint64(9), last)
	requireBounds(t, l, 8, 9)
}

func TestLogTruncateMovesFirst(t *testing.T) {
	l, _ := openLog(t, 3, 9)
	require.NoError(t, l.Truncate(6, func(first uint64) error {
		require.Equal(t, uint64(3), first, "the write deletes from the first index")
		return nil
	}))
	requireBounds(t, l, 6, 9)
	require.NoError(t, l.Truncate(10, func(first uint64) error {
		require.Equal(t, uint64(6), first)
		return nil
	}))
	requireBounds(t, l, 10, 9)
}

// A failed write leaves the bounds as they were, returns the write's own
// error and fails the log.
func TestLogFailedWrites(t *testing.T) {
	for name, write := range map[string]func(l *Log) error{
		"append": func(l *Log) error {
			last, err := l.Append(3, func(uint64) error { return errWrite })
			require.Zero(t, last)
			return err
		},
		"truncate": func(l *Log) error {
			return l.Truncate(5, func(uint64) error { return errWrite })
		},
		"sync": func(l *Log) error { return l.Write(func() error { return errWrite }) },
	} {
		t.Run(name, func(t *testing.T) {
			l, _ := openLog(t, 3, 9)
			require.ErrorIs(t, write(l), errWrite)
			requireBounds(t, l, 3, 9)
			require.True(t, l.Failed())
		})
	}
}

func TestLogWriteSucceeds(t *testing.T) {
	l, _ := openLog(t, 1, 0)
	require.NoError(t, l.Write(ok))
	require.False(t, l.Failed())
}

// A clean Close leaves a record that the next Open checks the store against.
func TestLogCloseWritesTheCloseRecord(t *testing.T) {
	l, dir := openLog(t, 3, 9)
	_, err := l.Append(2, func(uint64) error { return nil })
	require.NoError(t, err)
	var steps []string
	require.NoError(t, l.Close(
		func() error { steps = append(steps, "sync"); return nil },
		func() error { steps = append(steps, "close"); return nil }))
	require.Equal(t, []string{"sync", "close"}, steps)
	require.FileExists(t, filepath.Join(dir, CloseRecordFile))

	reopened := NewLog(store, VFSFiles(vfs.Default), dir)
	requireCorrupt(t, reopened.Open(3, 10), nil)
	requireBounds(t, reopened, 0, 0)
	require.FileExists(t, filepath.Join(dir, CloseRecordFile), "a refused open changes nothing")
	require.NoError(t, reopened.Open(3, 11))
	requireBounds(t, reopened, 3, 11)
	require.NoFileExists(t, filepath.Join(dir, CloseRecordFile), "a checked record is removed")
}

// Close leaves no record unless the store closed after every write
// succeeded: otherwise the store may hold more or less than the bounds.
// The store is closed whatever the sync returned.
func TestLogCloseWithoutRecord(t *testing.T) {
	errSync, errClose := errors.New("sync failed"), errors.New("close failed")
	for name, tt := range map[string]struct {
		write       func(l *Log) error
		sync, close error
		want        error
	}{
		"after a failed append": {
			write: func(l *Log) error {
				_, err := l.Append(1, func(uint64) error { return errWrite })
				return err
			},
		},
		"after a failed truncate": {
			write: func(l *Log) error { return l.Truncate(5, func(uint64) error { return errWrite }) },
		},
		"after a failed sync":      {write: func(l *Log) error { return l.Write(func() error { return errWrite }) }},
		"when sync fails":          {sync: errSync, want: errSync},
		"when close fails":         {close: errClose, want: errClose},
		"sync's error comes first": {sync: errSync, close: errClose, want: errSync},
	} {
		t.Run(name, func(t *testing.T) {
			l, dir := openLog(t, 3, 9)
			if tt.write != nil {
				require.ErrorIs(t, tt.write(l), errWrite)
			}
			closed := false
			err := l.Close(
				func() error { return tt.sync },
				func() error { closed = true; return tt.close })
			require.True(t, closed, "the store is closed whatever sync returned")
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
			require.NoFileExists(t, filepath.Join(dir, CloseRecordFile))
		})
	}
}

func TestLogCloseRecordWriteFails(t *testing.T) {
	l := NewLog(store, VFSFiles(vfs.Default), filepath.Join(t.TempDir(), "missing"))
	require.NoError(t, l.Open(1, 0))
	err := l.Close(ok, ok)
	require.ErrorContains(t, err, "test: write ")
	require.ErrorContains(t, err, CloseRecordFile)
}
