package broker

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
)

// EncryptionConfig is persistence.encryption: it seals every WAL record and
// every session state stored (see docs/operations.md). The file names where
// each key is, never the key itself:
//
//	persistence:
//	  encryption:
//	    active: k2
//	    keys:
//	      - {id: k2, file: /etc/nautilus/k2.key}
//	      - {id: k1, env: NAUTILUS_KEY_K1}
type EncryptionConfig struct {
	Active string             `yaml:"active"` // the key new records and states are sealed under
	Keys   []EncryptionKeyRef `yaml:"keys"`   // the active key and every older one still needed
	// ReadPlaintext reads records and states written before encryption was
	// turned on, sealing them as they are rewritten; for migration only.
	ReadPlaintext bool `yaml:"read_plaintext"`
}

// EncryptionKeyRef names where one key is: a file (mode 0600 or stricter;
// 32 raw bytes, 64 hex digits or base64) or an environment variable (hex or
// base64).
type EncryptionKeyRef struct {
	ID   string `yaml:"id"`
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// clone returns a copy sharing nothing with c.
func (c *EncryptionConfig) clone() *EncryptionConfig {
	if c == nil {
		return nil
	}
	cp := *c
	cp.Keys = slices.Clone(c.Keys)
	return &cp
}

// keyPaths returns the key files, for resolvePaths.
func (c *EncryptionConfig) keyPaths() []*string {
	if c == nil {
		return nil
	}
	var paths []*string
	for i := range c.Keys {
		paths = append(paths, &c.Keys[i].File)
	}
	return paths
}

// load reads the keys; nil when encryption is off.
func (c *EncryptionConfig) load() (*backend.Encryption, error) {
	if c == nil {
		return nil, nil
	}
	if len(c.Keys) == 0 {
		return nil, configErr("persistence.encryption.keys", "no keys: name at least the active one")
	}
	sources := make([]backend.KeySource, len(c.Keys))
	for i, k := range c.Keys {
		sources[i] = backend.KeySource{ID: k.ID, File: k.File, Env: k.Env}
	}
	enc, err := backend.LoadKeys(c.Active, sources)
	if err != nil {
		return nil, &ConfigError{Key: "persistence.encryption", Err: err}
	}
	enc.ReadPlaintext = c.ReadPlaintext
	return enc, nil
}

// stateCodec turns session states into the bytes a store keeps, sealed
// under the active key, bound to the session id, when cipher is set. Every
// store encodes through it, so each gets encryption the same way.
type stateCodec struct {
	cipher *backend.Cipher // nil: stored as JSON
}

// sessionBind binds a sealed state to its session, so a state copied to
// another session's row does not open.
func sessionBind(sessionID string) []byte { return []byte("session\x00" + sessionID) }

func (sc stateCodec) encode(sessionID string, st State) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("broker: encode state of session %q: %w", sessionID, err)
	}
	if sc.cipher == nil {
		return b, nil
	}
	sealed, err := sc.cipher.Seal(b, sessionBind(sessionID))
	if err != nil {
		return nil, fmt.Errorf("broker: seal state of session %q: %w", sessionID, err)
	}
	return sealed, nil
}

// decode opens and parses a stored state. A missing or wrong key is
// backend.ErrKey naming the key; a damaged or moved state is
// backend.ErrCorrupt naming the session.
func (sc stateCodec) decode(sessionID string, data []byte) (State, error) {
	if sc.cipher != nil {
		plain, err := sc.cipher.Open(nil, data, sessionBind(sessionID))
		if err != nil {
			if !errors.Is(err, backend.ErrKey) {
				err = &backend.CorruptError{Key: sessionID, Offset: -1, Reason: "sealed session state", Err: err}
			}
			return State{}, fmt.Errorf("broker: stored state of session %q: %w", sessionID, err)
		}
		data = plain
	}
	return decodeState(sessionID, data)
}

// rowKeys returns the key a store files sessionID's state under and, after
// it, the keys an older copy may be under. With encryption the key is a
// keyed hash of the session id under the active key (backend.Cipher.Tags),
// so the id itself is never stored; the older keys are its hash under each
// rotated key and, when reading plaintext, the id itself. Save writes the
// first and deletes the others, so a rotation migrates states as they are
// saved.
func (sc stateCodec) rowKeys(sessionID string) []string {
	if sc.cipher == nil {
		return []string{sessionID}
	}
	keys := sc.cipher.Tags([]byte(sessionID))
	if sc.cipher.ReadsPlaintext() {
		keys = append(keys, sessionID)
	}
	return keys
}

// checkRowKey checks a stored row key against the configuration: a keyed
// hash under a key not configured is backend.ErrKey naming it; a plain
// session id is refused unless the configuration reads plaintext.
func (sc stateCodec) checkRowKey(key string) error {
	id, sum, ok := strings.Cut(key, ":")
	if ok && len(sum) == 64 && !strings.Contains(sum, ":") {
		if _, err := hex.DecodeString(sum); err == nil {
			if !slices.Contains(sc.cipher.KeyIDs(), id) {
				return &backend.KeyError{ID: id, Reason: "session states are sealed under it, but it is not configured"}
			}
			return nil
		}
	}
	if !sc.cipher.ReadsPlaintext() {
		return &backend.CorruptError{Offset: -1, Reason: "a session state written before encryption was turned on " +
			"(set persistence.encryption.read_plaintext to migrate)"}
	}
	return nil
}
