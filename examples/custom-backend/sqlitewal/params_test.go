package sqlitewal

import (
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// The params and the sync mode reach SQLite as the pragmas the package
// documentation names, on the connection the WAL uses.
func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   backend.SyncMode
		params map[string]string
		want   map[string]string
	}{
		{"defaults", backend.SyncAlways, nil, map[string]string{
			"busy_timeout": "100", "cache_size": "-2048", "wal_autocheckpoint": "1000",
			"synchronous": "2", "locking_mode": "exclusive", "journal_mode": "wal",
		}},
		{"params", backend.SyncAlways, map[string]string{
			ParamBusyTimeout: "250ms", ParamCacheSize: "8MiB", ParamWALAutocheckpoint: "7",
		}, map[string]string{
			"busy_timeout": "250", "cache_size": "-8192", "wal_autocheckpoint": "7", "synchronous": "2",
		}},
		{"sync_none", backend.SyncNone, nil, map[string]string{
			"synchronous": "1", "locking_mode": "exclusive", "journal_mode": "wal",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := backend.Config{Backend: Name, Dir: t.TempDir(), Sync: tc.mode, Params: tc.params}
			d, err := Open(t.Context(), cfg)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer d.Close()
			w := d.(*wal)
			for pragma, want := range tc.want {
				var got string
				if err := w.db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatalf("PRAGMA %s: %v", pragma, err)
				}
				if got != want {
					t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
				}
			}
		})
	}
}
