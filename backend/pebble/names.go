package pebble

import "github.com/nautilus-go/nautilus/backend/internal/kv"

// ownsName reports whether name, in Config.Dir, is one this backend writes:
// Pebble's directory, the created marker and the close record, with their
// temporary files. Open
// refuses any other entry (backend.CheckDir).
func ownsName(name string) bool {
	switch name {
	case SubDir, CreatedFile, CreatedFile + ".tmp", kv.CloseRecordFile, kv.CloseRecordFile + ".tmp":
		return true
	}
	return false
}
