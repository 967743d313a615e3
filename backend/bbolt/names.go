package bbolt

import "github.com/nautilus-go/nautilus/backend/internal/kv"

// ownsName reports whether name, in Config.Dir, is one this backend writes:
// the database, the temporary file it is created as, and the close record
// with its temporary file. Open refuses any other entry (backend.CheckDir).
func ownsName(name string) bool {
	switch name {
	case FileName, FileName + ".tmp", kv.CloseRecordFile, kv.CloseRecordFile + ".tmp":
		return true
	}
	return false
}
