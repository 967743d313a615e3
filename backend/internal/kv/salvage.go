package kv

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/nautilus-go/nautilus/backend"
)

// Scan is what ScanRecords found in a store's records.
type Scan struct {
	First, Last uint64 // the marker's first index and the last good record
	// Damage is the first record that fails Open's or Replay's checks, nil
	// when none does; CutKey is its key, from which a cut removes every key.
	Damage *backend.CorruptError
	CutKey []byte
	// Highest is the highest record index stored, CutBytes the bytes of the
	// keys and values from CutKey on.
	Highest  uint64
	CutBytes int64
}

// ScanRecords checks a store's records as Open and Replay do, but reads on
// past the first damage to learn what a cut there removes. marker is the
// value under FirstKey (nil when absent); each calls its argument with every
// record key and value in key order from RecordsStart, both valid only
// during the call. A damaged marker, or an error from each (the store's own
// structures failing), is returned as the error: a cut cannot mend those.
func (s Store) ScanRecords(marker []byte, each func(fn func(key, val []byte)) error) (Scan, error) {
	sc := Scan{First: 1}
	if marker != nil {
		first, err := s.DecodeFirst(marker)
		if err != nil {
			return sc, err
		}
		sc.First = first
	}
	sc.Last = sc.First - 1
	seq := s.Sequence(sc.First)
	err := each(func(key, val []byte) {
		if i, ok := ParseRecordKey(key); ok {
			sc.Highest = max(sc.Highest, i)
		}
		if sc.Damage == nil {
			_, _, err := seq.Next(key, val)
			if err == nil {
				sc.Last++
				return
			}
			// Next fails only with a *backend.CorruptError.
			errors.As(err, &sc.Damage)
			sc.CutKey = slices.Clone(key)
		}
		sc.CutBytes += int64(len(key) + len(val))
	})
	return sc, err
}

// Salvage applies a cut to a store scanned as sc, whose WAL directory dir
// holds its close record (in files). When sc found damage, cut must keep a
// copy of the store, delete every record key from sc.CutKey on, durably,
// close the store and return what it changed; the close record is then
// moved aside and rewritten with the bounds left. When the records are
// sound but the close record is damaged or records more than the store
// holds (records lost before the salvage), only the close record is moved
// aside. A store and close record that agree are left as they are.
func (s Store) Salvage(sc Scan, files Files, dir string, cut func(from []byte) ([]backend.SalvagedFile, error)) (backend.SalvageReport, error) {
	path := filepath.Join(dir, CloseRecordFile)
	data, err := files.ReadFile(path)
	found := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return backend.SalvageReport{}, fmt.Errorf("%s: read %s: %w", s.Name, path, err)
	}
	var closedLast uint64
	var closeDamage error
	if found {
		var closedFirst uint64
		closedFirst, closedLast, closeDamage = parseCloseRecord(path, data)
		if closeDamage == nil && (closedFirst != sc.First || closedLast != sc.Last) {
			closeDamage = s.checkCloseRecord(path, data, sc.First, sc.Last)
		}
	}
	rep := backend.SalvageReport{Damage: sc.Damage, First: sc.First, Last: sc.Last}
	if rep.Damage == nil && !errors.As(closeDamage, &rep.Damage) {
		return backend.SalvageReport{}, nil
	}
	if sc.Damage != nil {
		changed, err := cut(sc.CutKey)
		if err != nil {
			return backend.SalvageReport{}, err
		}
		rep.Files, rep.RemovedBytes = changed, sc.CutBytes
	}
	if found {
		moved, err := s.moveAside(files, path, data)
		if err != nil {
			return rep, err
		}
		rep.Files = append(rep.Files, moved)
	}
	if sc.Damage != nil {
		// cut closed the store cleanly, so the record it would have left holds.
		if err := s.WriteCloseRecord(files, dir, sc.First, sc.Last); err != nil {
			return rep, err
		}
	}
	if to := max(sc.Highest, closedLast); sc.Damage != nil || to > sc.Last {
		rep.RemovedFrom, rep.RemovedTo = sc.Last+1, max(to, sc.Last+1)
	}
	return rep, nil
}

// moveAside keeps the close record at path, holding data, under a free name
// path+BrokenSuffix[.N] and removes it, durably.
func (s Store) moveAside(files Files, path string, data []byte) (backend.SalvagedFile, error) {
	copyPath := path + backend.BrokenSuffix
	for n := 2; ; n++ {
		_, err := files.ReadFile(copyPath)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return backend.SalvagedFile{}, fmt.Errorf("%s: read %s: %w", s.Name, copyPath, err)
		}
		copyPath = path + backend.BrokenSuffix + "." + strconv.Itoa(n)
	}
	if err := files.WriteFileAtomic(copyPath, data); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("%s: keep a copy of %s as %s: %w", s.Name, path, copyPath, err)
	}
	if err := files.Remove(path); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("%s: remove %s: %w", s.Name, path, err)
	}
	if err := files.SyncDir(filepath.Dir(path)); err != nil {
		return backend.SalvagedFile{}, fmt.Errorf("%s: sync %s: %w", s.Name, filepath.Dir(path), err)
	}
	return backend.SalvagedFile{Path: path, Copy: copyPath, Size: int64(len(data)), Kept: -1}, nil
}
