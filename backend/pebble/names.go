package pebble

import "github.com/nautilus-go/nautilus/backend/internal/kv"

// ownsName reports whether name, in Config.Dir, is one this backend writes:
// Pebble's directory and the close record with its temporary file. Open
// refuses any other entry (backend.CheckDir).
func ownsName(name string) bool {
	switch name {
	case SubDir, kv.CloseRecordFile, kv.CloseRecordFile + ".tmp":
		return true
	}
	return false
}
