package backend_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	_ "github.com/nautilus-go/nautilus/backend/jsonl"
	_ "github.com/nautilus-go/nautilus/backend/memory"
	"github.com/stretchr/testify/require"
)

func testKey(id string, fill byte) backend.Key {
	return backend.Key{ID: id, Secret: bytes.Repeat([]byte{fill}, backend.KeySize)}
}

func encryption(active string, keys ...backend.Key) *backend.Encryption {
	return &backend.Encryption{Active: active, Keys: keys}
}

// rawDriver keeps each directory's records in memory exactly as the
// encryption layer hands them over, so a test can read and alter them.
type rawDriver struct {
	mu   sync.Mutex
	logs map[string]*[][]byte
}

func (d *rawDriver) Open(_ context.Context, cfg backend.Config) (backend.WAL, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.logs == nil {
		d.logs = map[string]*[][]byte{}
	}
	if d.logs[cfg.Dir] == nil {
		d.logs[cfg.Dir] = &[][]byte{}
	}
	return &rawWAL{d: d, recs: d.logs[cfg.Dir]}, nil
}

func (d *rawDriver) records(dir string) [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.logs[dir]
}

type rawWAL struct {
	d    *rawDriver
	recs *[][]byte
}

func (w *rawWAL) Append(_ context.Context, data ...[]byte) (uint64, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	for _, r := range data {
		*w.recs = append(*w.recs, bytes.Clone(r))
	}
	return uint64(len(*w.recs)), nil
}

func (w *rawWAL) Replay(_ context.Context, from uint64, fn func(uint64, []byte) error) error {
	w.d.mu.Lock()
	recs := append([][]byte(nil), (*w.recs)...)
	w.d.mu.Unlock()
	for i := from; i <= uint64(len(recs)); i++ {
		if err := fn(i, recs[i-1]); err != nil {
			return err
		}
	}
	return nil
}

func (w *rawWAL) Bounds(context.Context) (uint64, uint64, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return 1, uint64(len(*w.recs)), nil
}

func (w *rawWAL) TruncateFront(context.Context, uint64) error {
	return errors.New("rawWAL: TruncateFront not supported")
}
func (w *rawWAL) Sync(context.Context) error { return nil }
func (w *rawWAL) Close() error               { return nil }

func replayAll(t *testing.T, w backend.WAL) ([][]byte, error) {
	t.Helper()
	first, _, err := w.Bounds(context.Background())
	require.NoError(t, err)
	var got [][]byte
	err = w.Replay(context.Background(), first, func(_ uint64, data []byte) error {
		got = append(got, bytes.Clone(data))
		return nil
	})
	return got, err
}

// TestEncryptedRecordsRoundTripAndNeverReachTheDriver checks that the driver
// holds only sealed records and Replay gives back what was appended.
func TestEncryptedRecordsRoundTripAndNeverReachTheDriver(t *testing.T) {
	ctx := context.Background()
	d := &rawDriver{}
	dir := t.TempDir()
	cfg := backend.Config{Backend: "raw", Dir: dir, Encryption: encryption("k1", testKey("k1", 1))}
	w, err := backend.OpenDriver(ctx, d, cfg)
	require.NoError(t, err)
	want := [][]byte{[]byte("marker-one"), {}, []byte("marker-two")}
	_, err = w.Append(ctx, want[0])
	require.NoError(t, err)
	_, err = w.Append(ctx, want[1:]...)
	require.NoError(t, err)
	got, err := replayAll(t, w)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, w.Close())

	stored := d.records(dir)
	require.Len(t, stored, 3)
	require.NotEqual(t, stored[0][31+2:], stored[2][31+2:], "fresh nonces")
	for _, r := range stored {
		require.False(t, bytes.Contains(r, []byte("marker")), "plaintext reached the driver: %q", r)
	}
}

// TestEncryptedRecordBoundToItsIndex checks that a record moved to another
// index, or altered, is ErrCorrupt naming the index, never other bytes.
func TestEncryptedRecordBoundToItsIndex(t *testing.T) {
	ctx := context.Background()
	for name, tamper := range map[string]func(recs [][]byte){
		"swapped":      func(recs [][]byte) { recs[0], recs[1] = recs[1], recs[0] },
		"bit_flipped":  func(recs [][]byte) { recs[0][len(recs[0])-20] ^= 1 },
		"nonce_edited": func(recs [][]byte) { recs[0][3+2+4] ^= 0x80 },
		"truncated":    func(recs [][]byte) { recs[0] = recs[0][:10] },
		"header_gone":  func(recs [][]byte) { recs[0][0] = '{' },
	} {
		t.Run(name, func(t *testing.T) {
			d := &rawDriver{}
			cfg := backend.Config{Backend: "raw", Dir: t.TempDir(), Encryption: encryption("k1", testKey("k1", 1))}
			w, err := backend.OpenDriver(ctx, d, cfg)
			require.NoError(t, err)
			_, err = w.Append(ctx, []byte("first"), []byte("second"), []byte("third"))
			require.NoError(t, err)
			require.NoError(t, w.Close())
			tamper(d.records(cfg.Dir))

			w, err = backend.OpenDriver(ctx, d, cfg)
			require.NoError(t, err, "the last record is intact")
			defer w.Close()
			_, err = replayAll(t, w)
			require.ErrorIs(t, err, backend.ErrCorrupt)
			var ce *backend.CorruptError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, uint64(1), ce.Index)
		})
	}
}

// TestEncryptionKeyRotationAndWrongKeys checks that older keys still read,
// that a record under a missing key or a different secret is ErrKey naming
// the key, and that Open notices a wrong key at once.
func TestEncryptionKeyRotationAndWrongKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	k1, k2 := testKey("k1", 1), testKey("k2", 2)
	open := func(enc *backend.Encryption) (backend.WAL, error) {
		return backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: enc})
	}
	w, err := open(encryption("k1", k1))
	require.NoError(t, err)
	_, err = w.Append(ctx, []byte("under k1"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	// A wrong secret for k1 fails Open, naming k1.
	_, err = open(encryption("k1", testKey("k1", 9)))
	requireKeyError(t, err, "k1", 1)
	// k1 missing altogether.
	_, err = open(encryption("k2", k2))
	requireKeyError(t, err, "k1", 1)

	w, err = open(encryption("k2", k1, k2))
	require.NoError(t, err)
	_, err = w.Append(ctx, []byte("under k2"))
	require.NoError(t, err)
	got, err := replayAll(t, w)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("under k1"), []byte("under k2")}, got)
	require.NoError(t, w.Close())

	// Without k1 the log opens (its last record is under k2) but replaying
	// record 1 is ErrKey naming k1.
	w, err = open(encryption("k2", k2))
	require.NoError(t, err)
	_, err = replayAll(t, w)
	requireKeyError(t, err, "k1", 1)
	require.NoError(t, w.Close())
}

func requireKeyError(t *testing.T, err error, id string, index uint64) {
	t.Helper()
	require.ErrorIs(t, err, backend.ErrKey)
	var ke *backend.KeyError
	require.ErrorAs(t, err, &ke)
	require.Equal(t, id, ke.ID)
	require.Equal(t, index, ke.Index)
	require.Contains(t, err.Error(), id)
}

// TestEncryptionRefusesAPlaintextLog checks that a log written without
// encryption does not open with it, naming the index, unless ReadPlaintext
// asks for migration.
func TestEncryptionRefusesAPlaintextLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir})
	require.NoError(t, err)
	_, err = w.Append(ctx, []byte("plain 1"), []byte("plain 2"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	enc := encryption("k1", testKey("k1", 1))
	_, err = backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: enc})
	require.ErrorIs(t, err, backend.ErrCorrupt)
	var ce *backend.CorruptError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, uint64(2), ce.Index)
	require.Contains(t, ce.Reason, "not encrypted")

	enc.ReadPlaintext = true
	w, err = backend.Open(ctx, backend.Config{Backend: "jsonl", Dir: dir, Encryption: enc})
	require.NoError(t, err)
	_, err = w.Append(ctx, []byte("sealed 3"))
	require.NoError(t, err)
	got, err := replayAll(t, w)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("plain 1"), []byte("plain 2"), []byte("sealed 3")}, got)
	require.NoError(t, w.Close())
}

// TestEncryptionConfigErrors checks that a bad configuration fails Open
// before anything is created, as a *KeyError naming the key.
func TestEncryptionConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		enc *backend.Encryption
		id  string
	}{
		"active_missing": {encryption("k9", testKey("k1", 1)), "k9"},
		"short_secret":   {encryption("k1", backend.Key{ID: "k1", Secret: []byte("short")}), "k1"},
		"duplicate":      {encryption("k1", testKey("k1", 1), testKey("k1", 2)), "k1"},
		"empty_id":       {encryption("", testKey("", 1)), ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "wal")
			_, err := backend.Open(context.Background(), backend.Config{Backend: "jsonl", Dir: dir, Encryption: tc.enc})
			require.ErrorIs(t, err, backend.ErrKey)
			var ke *backend.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tc.id, ke.ID)
			_, statErr := os.Stat(dir)
			require.ErrorIs(t, statErr, fs.ErrNotExist)
		})
	}
}

// TestLoadKeys checks the accepted key encodings and that a key file
// readable by others, a missing env var or a malformed key is refused
// naming the key id.
func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	secret := bytes.Repeat([]byte{0xA5}, backend.KeySize)
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	raw := write("raw", secret, 0o600)
	hexFile := write("hex", []byte(hex.EncodeToString(secret)+"\n"), 0o400)
	b64File := write("b64", []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600)
	t.Setenv("NAUTILUS_TEST_KEY", hex.EncodeToString(secret))

	enc, err := backend.LoadKeys("e", []backend.KeySource{
		{ID: "r", File: raw}, {ID: "h", File: hexFile}, {ID: "b", File: b64File}, {ID: "e", Env: "NAUTILUS_TEST_KEY"},
	})
	require.NoError(t, err)
	require.Equal(t, "e", enc.Active)
	for _, k := range enc.Keys {
		require.Equal(t, secret, k.Secret, k.ID)
	}

	for name, src := range map[string]backend.KeySource{
		"world_readable": {ID: "x", File: write("open", secret, 0o644)},
		"group_readable": {ID: "x", File: write("group", secret, 0o640)},
		"malformed":      {ID: "x", File: write("bad", []byte("not a key"), 0o600)},
		"missing_file":   {ID: "x", File: filepath.Join(dir, "none")},
		"unset_env":      {ID: "x", Env: "NAUTILUS_TEST_KEY_UNSET"},
		"both":           {ID: "x", File: raw, Env: "NAUTILUS_TEST_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := backend.LoadKeys("x", []backend.KeySource{src})
			require.ErrorIs(t, err, backend.ErrKey)
			var ke *backend.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, "x", ke.ID)
		})
	}
}

// TestCipherSealBindsItsContext checks Seal and Open as the session store
// uses them: bound to a session id.
func TestCipherSealBindsItsContext(t *testing.T) {
	c, err := backend.NewCipher(encryption("k1", testKey("k1", 1)))
	require.NoError(t, err)
	sealed, err := c.Seal([]byte("state"), []byte("session-a"))
	require.NoError(t, err)
	plain, err := c.Open(nil, sealed, []byte("session-a"))
	require.NoError(t, err)
	require.Equal(t, "state", string(plain))
	_, err = c.Open(nil, sealed, []byte("session-b"))
	require.Error(t, err)
	require.NotErrorIs(t, err, backend.ErrKey)
}

// BenchmarkAppend200 measures one 200-byte record per Append over the memory
// backend, plain and sealed, so the difference is what encryption costs a
// record without any I/O.
func BenchmarkAppend200(b *testing.B) {
	for name, enc := range map[string]*backend.Encryption{"plain": nil, "sealed": encryption("k1", testKey("k1", 1))} {
		b.Run(name, func(b *testing.B) {
			w, err := backend.Open(context.Background(), backend.Config{Backend: "memory", Dir: b.TempDir(), Encryption: enc})
			require.NoError(b, err)
			defer w.Close()
			rec := bytes.Repeat([]byte{'x'}, 200)
			b.SetBytes(int64(len(rec)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Append(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
