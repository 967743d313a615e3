package conformance

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
)

// orderEncryption runs the encryption case after every other group.
const orderEncryption = 600

func init() {
	addCases(orderEncryption, testCase{
		name: "encrypted_at_rest",
		rule: "With Config.Encryption set, no record's bytes appear in any file the backend leaves in its directory, and the records replay as appended after reopen.",
		skip: func(c Capabilities) string {
			if !c.Encrypted {
				return "Caps.Encrypted is false: the harness opens the log without Config.Encryption"
			}
			return c.filesReason()
		},
		run: testEncryptedAtRest,
	})
}

// TestEncryption returns the encryption of the suite's encrypted runs: fixed
// test keys, so that a re-executed child process opens the same log, with
// the active key "conformance-2" and an older "conformance-1" configured as
// a rotated deployment has them. Never use these keys for real data.
func TestEncryption() *backend.Encryption {
	return &backend.Encryption{
		Active: "conformance-2",
		Keys: []backend.Key{
			{ID: "conformance-1", Secret: bytes.Repeat([]byte{0x11}, backend.KeySize)},
			{ID: "conformance-2", Secret: bytes.Repeat([]byte{0x22}, backend.KeySize)},
		},
	}
}

// RunWithEncryption runs the suite twice: on harness(nil), the plain log,
// and in a subtest "encrypted" on harness(TestEncryption()) with
// Caps.Encrypted set. harness must pass its argument as Config.Encryption in
// every way it opens the log. Every built-in backend's test runs this way.
func RunWithEncryption(t *testing.T, harness func(enc *backend.Encryption) Harness) {
	t.Helper()
	Run(t, harness(nil))
	t.Run("encrypted", func(t *testing.T) {
		h := harness(TestEncryption())
		h.Caps.Encrypted = true
		Run(t, h)
	})
}

// atRestMarker is what the encrypted_at_rest case looks for on disk; long
// enough never to turn up in ciphertext by chance.
var atRestMarker = []byte("conformance-marker-that-must-not-reach-the-disk")

func testEncryptedAtRest(t *testing.T, h Harness) {
	dir := t.TempDir()
	w := openWAL(t, h, dir)
	var want [][]byte
	for i := range 40 {
		want = append(want, bytes.Repeat(atRestMarker, 1+i%5))
	}
	appendWant(t, w, uint64(len(want)), want...)
	if err := w.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if i := bytes.Index(b, atRestMarker); i >= 0 {
			t.Errorf("%s holds a record's plaintext at offset %d", path, i)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	w = openWAL(t, h, dir)
	wantRecords(t, w, 1, want)
}
