package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nautilus-go/nautilus/backend"
)

// Codec turns states into the bytes a store keeps, and session ids into
// the keys it files them under: sealed under the active key, bound to the
// session id, when encryption is on; as they are otherwise. Every driver
// that persists encodes through it, so each gets encryption the same way.
// The zero Codec stores everything as it is.
type Codec struct {
	cipher *backend.Cipher // nil: stored as they are
}

// NewCodec returns the codec for enc (nil: no encryption).
func NewCodec(enc *backend.Encryption) (Codec, error) {
	c, err := backend.NewCipher(enc)
	if err != nil {
		return Codec{}, err
	}
	return Codec{cipher: c}, nil
}

// Encrypted reports whether states are sealed.
func (c Codec) Encrypted() bool { return c.cipher != nil }

// sessionBind binds a sealed state to its session, so a state copied to
// another session's row does not open.
func sessionBind(sessionID string) []byte { return []byte("session\x00" + sessionID) }

// Seal returns what the store keeps for sessionID's state.
func (c Codec) Seal(sessionID string, state []byte) ([]byte, error) {
	if c.cipher == nil {
		return state, nil
	}
	sealed, err := c.cipher.Seal(state, sessionBind(sessionID))
	if err != nil {
		return nil, fmt.Errorf("store: seal state of session %q: %w", sessionID, err)
	}
	return sealed, nil
}

// Open returns the state a stored value holds. A missing or wrong key is
// backend.ErrKey naming the key; a damaged or moved state is
// backend.ErrCorrupt naming the session.
func (c Codec) Open(sessionID string, data []byte) ([]byte, error) {
	if c.cipher == nil {
		return data, nil
	}
	plain, err := c.cipher.Open(nil, data, sessionBind(sessionID))
	if err != nil {
		if !errors.Is(err, backend.ErrKey) {
			err = &backend.CorruptError{Key: sessionID, Offset: -1, Reason: "sealed session state", Err: err}
		}
		return nil, fmt.Errorf("store: stored state of session %q: %w", sessionID, err)
	}
	return plain, nil
}

// RowKeys returns the key a store files sessionID's state under and, after
// it, the keys an older copy may be under. With encryption the key is a
// keyed hash of the session id under the active key (backend.Cipher.Tags),
// so the id itself is never stored; the older keys are its hash under each
// rotated key and, when reading plaintext, the id itself. Save writes the
// first and deletes the others, so a rotation migrates states as they are
// saved.
func (c Codec) RowKeys(sessionID string) []string {
	if c.cipher == nil {
		return []string{sessionID}
	}
	keys := c.cipher.Tags([]byte(sessionID))
	if c.cipher.ReadsPlaintext() {
		keys = append(keys, sessionID)
	}
	return keys
}

// CheckStored checks, at open, stored rows against the configuration:
// every row key must be filed under a configured key (a state under a key
// no longer configured would otherwise be silently missed, as a new
// session), and newest, the most recently saved state (nil: none), must be
// sealed with the active key's secret. A no-op without encryption.
func (c Codec) CheckStored(rowKeys []string, newest []byte) error {
	if c.cipher == nil {
		return nil
	}
	for _, k := range rowKeys {
		if err := c.checkRowKey(k); err != nil {
			return err
		}
	}
	if newest == nil {
		return nil
	}
	return c.cipher.CheckKey(newest)
}

// checkRowKey checks one stored row key: a keyed hash under a key not
// configured is backend.ErrKey naming it; a plain session id is refused
// unless the configuration reads plaintext.
func (c Codec) checkRowKey(key string) error {
	id, sum, ok := strings.Cut(key, ":")
	if ok && len(sum) == 64 && !strings.Contains(sum, ":") {
		if _, err := hex.DecodeString(sum); err == nil {
			if !slices.Contains(c.cipher.KeyIDs(), id) {
				return &backend.KeyError{ID: id, Reason: "session states are sealed under it, but it is not configured"}
			}
			return nil
		}
	}
	if !c.cipher.ReadsPlaintext() {
		return &backend.CorruptError{Offset: -1, Reason: "a session state written before encryption was turned on " +
			"(set persistence.encryption.read_plaintext to migrate)"}
	}
	return nil
}
