package backend

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record encryption. With Config.Encryption set, Open puts a layer between
// the shared machinery and the driver that seals every record before the
// driver sees it and opens it on Replay, so no driver ever holds plaintext.
// A sealed record is
//
//	[0]          0xEC, the magic byte
//	[1]          1, the format version
//	[2]          n, the length of the key id (1..255)
//	[3:3+n)      the key id
//	[3+n:7+n)    key check: the first 4 bytes of HMAC-SHA256(key, "nautilus key check v1")
//	[7+n:31+n)   a random 24-byte nonce, fresh for every record
//	[31+n:)      XChaCha20-Poly1305 ciphertext of the record, then its 16-byte tag
//
// The associated data is the header [0:7+n) followed by a context the
// caller binds the record to: for a WAL record "wal" and its index (8 bytes,
// big-endian), so a record moved to another index fails to open; for a
// session state "session" and the session id. XChaCha20-Poly1305's 192-bit
// nonces may be drawn at random for any number of records under one key,
// where AES-GCM's 96-bit ones would cap a key at about 2^32 records.
//
// The key check tells a wrong key (ErrKey) from a damaged record
// (ErrCorrupt) without trying to decrypt; a header damaged in its key id or
// key check reads as ErrKey. Either way the record is refused, never
// returned as garbage.
const (
	sealMagic   = 0xEC
	sealVersion = 1
	keyCheckLen = 4
)

var (
	keyCheckLabel = []byte("nautilus key check v1")
	tagKeyLabel   = []byte("nautilus tag key v1")
)

func hmacOf(key, data []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(data)
	return mac.Sum(nil)
}

// Cipher seals and opens records under an Encryption's keys. It is safe for
// concurrent use.
type Cipher struct {
	active *sealKey
	keys   map[string]*sealKey
	plain  bool // Encryption.ReadPlaintext
}

type sealKey struct {
	id     string
	header []byte // magic, version, id length, id, key check
	aead   cipher.AEAD
	tagKey []byte // HMAC key of Tags, derived so it is never the sealing key
}

// NewCipher checks enc and returns its Cipher; a nil enc gives a nil Cipher
// and no error. A bad configuration is a *KeyError.
func NewCipher(enc *Encryption) (*Cipher, error) {
	if enc == nil {
		return nil, nil
	}
	if err := enc.check(); err != nil {
		return nil, err
	}
	c := &Cipher{keys: map[string]*sealKey{}, plain: enc.ReadPlaintext}
	for _, k := range enc.Keys {
		aead, err := chacha20poly1305.NewX(k.Secret)
		if err != nil {
			return nil, &KeyError{ID: k.ID, Reason: err.Error()}
		}
		h := append([]byte{sealMagic, sealVersion, byte(len(k.ID))}, k.ID...)
		h = append(h, hmacOf(k.Secret, keyCheckLabel)[:keyCheckLen]...)
		c.keys[k.ID] = &sealKey{id: k.ID, header: h, aead: aead, tagKey: hmacOf(k.Secret, tagKeyLabel)}
	}
	c.active = c.keys[enc.Active]
	return c, nil
}

// Overhead returns how many bytes sealing adds to a record.
func (c *Cipher) Overhead() int {
	return len(c.active.header) + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
}

// seal appends the sealed record of plaintext, bound to bind, to dst. nonce
// must be chacha20poly1305.NonceSizeX fresh random bytes; scratch holds the
// associated data, reused across calls.
func (c *Cipher) seal(dst, plaintext, bind, nonce []byte, scratch *[]byte) []byte {
	k := c.active
	start := len(dst)
	dst = append(dst, k.header...)
	dst = append(dst, nonce...)
	*scratch = append(append((*scratch)[:0], k.header...), bind...)
	return k.aead.Seal(dst, dst[start+len(k.header):], plaintext, *scratch)
}

// Seal returns plaintext sealed under the active key, bound to bind (the
// associated data a later Open must present).
func (c *Cipher) Seal(plaintext, bind []byte) ([]byte, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("wal: draw nonce: %w", err)
	}
	var ad []byte
	return c.seal(make([]byte, 0, len(plaintext)+c.Overhead()), plaintext, bind, nonce, &ad), nil
}

// Tags returns keyed hashes of name, "<key id>:<hex HMAC-SHA256>", one per
// configured key with the active key's first. A store keys a sealed value
// by Tags(name)[0] instead of name, so the name (a session id) is never
// stored, and finds values stored before a rotation under the other tags.
func (c *Cipher) Tags(name []byte) []string {
	tags := []string{c.active.tag(name)}
	for _, k := range c.keys {
		if k != c.active {
			tags = append(tags, k.tag(name))
		}
	}
	return tags
}

func (k *sealKey) tag(name []byte) string {
	return k.id + ":" + hex.EncodeToString(hmacOf(k.tagKey, name))
}

// KeyIDs returns the configured key ids.
func (c *Cipher) KeyIDs() []string {
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	return ids
}

// ReadsPlaintext reports Encryption.ReadPlaintext.
func (c *Cipher) ReadsPlaintext() bool { return c.plain }

// CheckKey checks that sealed was sealed under a configured key with the
// configured secret, without opening it: a *KeyError when not, nil when it
// was (or it is plaintext and the Cipher reads plaintext).
func (c *Cipher) CheckKey(sealed []byte) error {
	_, err := c.keyOf(sealed)
	return err
}

// keyOf returns the key sealed is under and its header length; nil and no
// error for plaintext the Cipher reads.
func (c *Cipher) keyOf(sealed []byte) (*sealKey, error) {
	if len(sealed) < 3 || sealed[0] != sealMagic || sealed[1] != sealVersion {
		if c.plain {
			return nil, nil
		}
		return nil, errNotSealed
	}
	n := int(sealed[2])
	hlen := 3 + n + keyCheckLen
	if n == 0 || len(sealed) < hlen+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("encrypted record of %d bytes is shorter than its header", len(sealed))
	}
	id := string(sealed[3 : 3+n])
	k, ok := c.keys[id]
	if !ok {
		return nil, &KeyError{ID: id, Reason: "not configured"}
	}
	if !hmac.Equal(k.header[3+n:], sealed[3+n:hlen]) {
		return nil, &KeyError{ID: id, Reason: "wrong key: the configured secret is not the one the record was sealed under"}
	}
	return k, nil
}

// Errors of Open that are not about keys; callers turn them into their own
// *CorruptError with where the record is.
var (
	errNotSealed = errors.New("not encrypted: written before encryption was turned on")
	errForged    = errors.New("record fails authentication: altered, or moved from another index")
)

// Open returns the plaintext of sealed, bound to bind, appended to dst. A
// record under a key it lacks or under a different secret is a *KeyError
// (Index unset); any other failure is errNotSealed or errForged, or a
// format error.
func (c *Cipher) Open(dst, sealed, bind []byte) ([]byte, error) {
	var ad []byte
	return c.open(dst, sealed, bind, &ad)
}

// open is Open building the associated data in scratch, reused across calls.
func (c *Cipher) open(dst, sealed, bind []byte, scratch *[]byte) ([]byte, error) {
	k, err := c.keyOf(sealed)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return append(dst, sealed...), nil
	}
	hlen := len(k.header)
	nonce := sealed[hlen : hlen+chacha20poly1305.NonceSizeX]
	*scratch = append(append((*scratch)[:0], k.header...), bind...)
	out, err := k.aead.Open(dst, nonce, sealed[hlen+chacha20poly1305.NonceSizeX:], *scratch)
	if err != nil {
		return nil, errForged
	}
	return out, nil
}

// walBind returns the associated data binding a WAL record to its index.
func walBind(buf []byte, index uint64) []byte {
	buf = append(buf[:0], "wal"...)
	return binary.BigEndian.AppendUint64(buf, index)
}

// encryptedWAL seals records between the shared machinery and the driver.
// The wrapper calls Append, Sync and TruncateFront one at a time, so last,
// the driver's last index, tells Append each record's index.
type encryptedWAL struct {
	inner  WAL
	c      *Cipher
	last   uint64
	buf    []byte   // the sealed records of the Append in progress
	recs   [][]byte // views into buf
	nonces []byte   // one draw of random nonces per Append
	ad     []byte   // associated data of the record being sealed
}

// wrapWAL puts c in front of inner, whose bounds are first and last, and
// opens its last record so that a wrong or missing key fails Open rather
// than the first Replay. On error it returns inner itself, for the caller
// to close.
func (c *Cipher) wrapWAL(ctx context.Context, inner WAL, first, last uint64) (WAL, error) {
	e := &encryptedWAL{inner: inner, c: c, last: last}
	if last < first {
		return e, nil
	}
	errStop := errors.New("stop")
	err := e.Replay(ctx, last, func(uint64, []byte) error { return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return inner, err
	}
	return e, nil
}

func (e *encryptedWAL) Append(ctx context.Context, data ...[]byte) (uint64, error) {
	n := len(data) * chacha20poly1305.NonceSizeX
	if cap(e.nonces) < n {
		e.nonces = make([]byte, n)
	}
	nonces := e.nonces[:n]
	if _, err := rand.Read(nonces); err != nil {
		return 0, fmt.Errorf("wal: draw nonces: %w", err)
	}
	size := 0
	for _, d := range data {
		size += len(d) + e.c.Overhead()
	}
	if cap(e.buf) < size {
		e.buf = make([]byte, 0, size)
	}
	buf, recs := e.buf[:0], e.recs[:0]
	var bind [11]byte
	for i, d := range data {
		start := len(buf)
		nonce := nonces[i*chacha20poly1305.NonceSizeX : (i+1)*chacha20poly1305.NonceSizeX]
		buf = e.c.seal(buf, d, walBind(bind[:0], e.last+1+uint64(i)), nonce, &e.ad)
		recs = append(recs, buf[start:len(buf):len(buf)])
	}
	e.buf, e.recs = buf, recs
	last, err := e.inner.Append(ctx, recs...)
	clear(e.recs) // the driver copied what it keeps
	if err == nil {
		e.last = last
	}
	return last, err
}

func (e *encryptedWAL) Replay(ctx context.Context, from uint64, fn func(index uint64, data []byte) error) error {
	var plain, bind, ad []byte
	return e.inner.Replay(ctx, from, func(index uint64, sealed []byte) error {
		bind = walBind(bind, index)
		var err error
		plain, err = e.c.open(plain[:0], sealed, bind, &ad)
		if err != nil {
			var ke *KeyError
			if errors.As(err, &ke) {
				ke.Index = index
				return ke
			}
			reason := "encrypted record: " + err.Error()
			if errors.Is(err, errNotSealed) {
				reason += " (encrypt the log with nautilus wal rekey)"
			}
			return &CorruptError{Offset: -1, Index: index, Reason: reason}
		}
		return fn(index, plain)
	})
}

func (e *encryptedWAL) Bounds(ctx context.Context) (uint64, uint64, error) {
	return e.inner.Bounds(ctx)
}

func (e *encryptedWAL) TruncateFront(ctx context.Context, before uint64) error {
	return e.inner.TruncateFront(ctx, before)
}

func (e *encryptedWAL) Sync(ctx context.Context) error { return e.inner.Sync(ctx) }

func (e *encryptedWAL) Close() error { return e.inner.Close() }

// Unwrap returns the driver's WAL.
func (e *encryptedWAL) Unwrap() WAL { return e.inner }
