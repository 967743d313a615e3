// Package identity holds the broker's credentials: API keys, kept only as
// SHA-256 hashes and looked up in constant time, and session tokens, signed
// with HMAC-SHA256 under a key id so that signing keys can be rotated (the
// active key signs, older keys still verify).
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Hash is the SHA-256 of an API key's secret.
type Hash [sha256.Size]byte

// HashSecret returns the hash under which a secret is stored.
func HashSecret(secret []byte) Hash { return sha256.Sum256(secret) }

// ParseHash reads a hash written as 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("identity: want %d hex digits (a SHA-256), got %d characters", 2*len(h), len(s))
	}
	copy(h[:], b)
	return h, nil
}

// String is the hash in hex, as a config file holds it.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Key is one API key: its id (safe to log), its hash, and whom it speaks for.
type Key struct {
	ID    string
	Hash  Hash
	Agent string // the agent the key acts as; empty for an admin key
	Admin bool
}

// Keys is a set of API keys.
type Keys []Key

// Lookup returns the key whose secret is presented. It hashes the secret and
// compares it with every key's hash in constant time, without stopping at a
// match, so the time taken says nothing about which key (if any) matched.
func (ks Keys) Lookup(secret string) (Key, bool) {
	h := HashSecret([]byte(secret))
	found := -1
	for i := range ks {
		if subtle.ConstantTimeCompare(h[:], ks[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Key{}, false
	}
	return ks[found], true
}

// SigningKey is one session-token signing key.
type SigningKey struct {
	ID     string
	Secret []byte
}

// MinSigningKeyBytes is the shortest signing secret accepted: HMAC-SHA256's
// block of strength.
const MinSigningKeyBytes = 32

// Claims are what a session token asserts.
type Claims struct {
	SessionID string `json:"sid"`
	Agent     string `json:"agt"`
	Expires   int64  `json:"exp"` // unix seconds
}

// Token errors; Verify wraps them with the reason.
var (
	ErrInvalidToken = errors.New("identity: invalid session token")
	ErrExpiredToken = errors.New("identity: session token expired")
)

// Tokens mints and verifies session tokens. The first key signs; every key
// verifies. Tokens read "v1.<key id>.<claims>.<mac>", the last two
// base64url without padding, the MAC over "v1.<key id>.<claims>".
type Tokens struct {
	keys []SigningKey
	ttl  time.Duration
	now  func() time.Time
}

// NewTokens returns a Tokens signing with keys[0] and verifying with all of
// them; tokens expire ttl after minting. now is the clock (nil: time.Now).
func NewTokens(keys []SigningKey, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("identity: no signing key")
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if k.ID == "" || strings.Contains(k.ID, ".") {
			return nil, fmt.Errorf("identity: signing key %d: id %q must be non-empty and without a dot", i, k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("identity: signing key %d: duplicate id %q", i, k.ID)
		}
		seen[k.ID] = true
		if len(k.Secret) < MinSigningKeyBytes {
			return nil, fmt.Errorf("identity: signing key %q: secret is %d bytes, want at least %d", k.ID, len(k.Secret), MinSigningKeyBytes)
		}
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("identity: token lifetime %v, want > 0", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{keys: keys, ttl: ttl, now: now}, nil
}

// Mint returns a token binding sessionID to agent, signed by the active key.
func (t *Tokens) Mint(sessionID, agent string) string {
	claims, _ := json.Marshal(Claims{SessionID: sessionID, Agent: agent, Expires: t.now().Add(t.ttl).Unix()})
	k := t.keys[0]
	signed := "v1." + k.ID + "." + base64.RawURLEncoding.EncodeToString(claims)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(k.Secret, signed))
}

// Verify checks a token's signature under the key it names and its expiry,
// and returns its claims.
func (t *Tokens) Verify(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != "v1" {
		return Claims{}, fmt.Errorf("%w: not a v1 token", ErrInvalidToken)
	}
	var key *SigningKey
	for i := range t.keys {
		if t.keys[i].ID == parts[1] {
			key = &t.keys[i]
		}
	}
	if key == nil {
		return Claims{}, fmt.Errorf("%w: unknown signing key %q", ErrInvalidToken, parts[1])
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || !hmac.Equal(sig, mac(key.Secret, strings.Join(parts[:3], "."))) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil || c.SessionID == "" || c.Agent == "" {
		return Claims{}, fmt.Errorf("%w: claims do not decode", ErrInvalidToken)
	}
	if t.now().Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpiredToken, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

func mac(secret []byte, msg string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
