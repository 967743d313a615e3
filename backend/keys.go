package backend

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/nautilus-go/nautilus/backend/vfs"
)

// KeySize is the length of every encryption key: 32 bytes (XChaCha20-Poly1305).
const KeySize = 32

// Encryption turns on record encryption (see encrypt.go): every record is
// sealed under the Active key before the driver sees it, and a record sealed
// under any key in Keys can be read. The WAL library takes key bytes; where
// they come from (a file, an env var) is the caller's business, see LoadKeys.
type Encryption struct {
	Keys   []Key  // every key records may be sealed under; IDs unique
	Active string // the ID of the key new records are sealed under

	// ReadPlaintext reads a record that carries no encryption header as it
	// is, instead of refusing it as corrupt. Only for migrating a log written
	// without encryption (nautilus wal rekey): with it on, whoever can write
	// the directory can slip in records that were never sealed.
	ReadPlaintext bool
}

// Key is one encryption key.
type Key struct {
	ID     string // 1 to 255 bytes, stored in each record sealed under it
	Secret []byte // exactly KeySize bytes
}

// ErrKey means a record (or a session state) is sealed under a key that is
// not configured, or under a configured ID whose secret is a different key.
// See *KeyError for which key.
var ErrKey = errors.New("wal: missing or wrong encryption key")

// KeyError names the key that is missing or wrong. It satisfies
// errors.Is(err, ErrKey).
type KeyError struct {
	ID     string // the key id the record names, or the configured one at fault
	Index  uint64 // the record index, or 0 when not a WAL record
	Reason string // "not configured", "wrong key", ...
}

func (e *KeyError) Error() string {
	msg := fmt.Sprintf("wal: encryption key %q: %s", e.ID, e.Reason)
	if e.Index != 0 {
		msg += fmt.Sprintf(" (index %d)", e.Index)
	}
	return msg
}

// Is reports ErrKey as a match.
func (e *KeyError) Is(target error) bool { return target == ErrKey }

// KeySource says where one key's secret comes from: a file or an
// environment variable, never the configuration itself.
type KeySource struct {
	ID   string
	File string // a file holding the key, not readable by group or others
	Env  string // an environment variable holding the key (hex or base64)
}

// LoadKeys reads each source's secret and returns the Encryption with active
// as the active key. A file holds the key as 32 raw bytes, 64 hex digits or
// 44 characters of standard base64 (trailing white space ignored) and must
// not be readable by group or others; an env var holds hex or base64. A
// missing or malformed key is a *KeyError naming its id.
func LoadKeys(active string, sources []KeySource) (*Encryption, error) {
	enc := &Encryption{Active: active}
	for _, src := range sources {
		secret, err := loadKey(src)
		if err != nil {
			return nil, err
		}
		enc.Keys = append(enc.Keys, Key{ID: src.ID, Secret: secret})
	}
	if err := enc.check(); err != nil {
		return nil, err
	}
	return enc, nil
}

func loadKey(src KeySource) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return &KeyError{ID: src.ID, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case (src.File == "") == (src.Env == ""):
		return nil, fail("name exactly one of file and env")
	case src.Env != "":
		v, ok := os.LookupEnv(src.Env)
		if !ok || v == "" {
			return nil, fail("environment variable %s is not set", src.Env)
		}
		secret, err := ParseKey([]byte(v), false)
		if err != nil {
			return nil, fail("environment variable %s: %v", src.Env, err)
		}
		return secret, nil
	}
	b, err := vfs.ReadPrivateFile(src.File)
	var open *vfs.NotPrivateError
	if errors.As(err, &open) {
		return nil, fail("key file %s has mode %04o: it must not be readable by group or others (chmod 600)", src.File, open.Mode)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	secret, err := ParseKey(b, true)
	if err != nil {
		return nil, fail("key file %s: %v", src.File, err)
	}
	return secret, nil
}

// ParseKey decodes a key written as 64 hex digits or standard base64 of 32
// bytes (surrounding white space ignored), or, when raw is true, exactly 32
// bytes as they are.
func ParseKey(b []byte, raw bool) ([]byte, error) {
	if raw && len(b) == KeySize {
		return bytes.Clone(b), nil
	}
	text := bytes.TrimSpace(b)
	if len(text) == 2*KeySize {
		if k, err := hex.DecodeString(string(text)); err == nil {
			return k, nil
		}
	}
	if k, err := base64.StdEncoding.DecodeString(string(text)); err == nil && len(k) == KeySize {
		return k, nil
	}
	want := "64 hex digits or base64 of 32 bytes"
	if raw {
		want = "32 raw bytes, " + want
	}
	return nil, fmt.Errorf("not a key: want %s", want)
}

// check validates the configuration.
func (e *Encryption) check() error {
	seen := map[string]bool{}
	for _, k := range e.Keys {
		switch {
		case k.ID == "" || len(k.ID) > 255:
			return &KeyError{ID: k.ID, Reason: "an id must be 1 to 255 bytes"}
		case seen[k.ID]:
			return &KeyError{ID: k.ID, Reason: "configured twice"}
		case len(k.Secret) != KeySize:
			return &KeyError{ID: k.ID, Reason: fmt.Sprintf("secret of %d bytes, want %d", len(k.Secret), KeySize)}
		}
		seen[k.ID] = true
	}
	if !seen[e.Active] {
		return &KeyError{ID: e.Active, Reason: "the active key is not among the configured keys"}
	}
	return nil
}
