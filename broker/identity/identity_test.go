package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeysLookup(t *testing.T) {
	ks := Keys{
		{ID: "a", Hash: HashSecret([]byte("secret-a-0123456789")), Agent: "agent-a"},
		{ID: "ops", Hash: HashSecret([]byte("secret-ops-0123456789")), Admin: true},
	}
	k, ok := ks.Lookup("secret-a-0123456789")
	require.True(t, ok)
	require.Equal(t, "agent-a", k.Agent)
	k, ok = ks.Lookup("secret-ops-0123456789")
	require.True(t, ok)
	require.True(t, k.Admin)
	for _, bad := range []string{"", "secret-a-012345678", "secret-a-0123456789 ", ks[0].Hash.String()} {
		_, ok := ks.Lookup(bad)
		require.False(t, ok, "%q", bad)
	}
}

func TestParseHash(t *testing.T) {
	h := HashSecret([]byte("x"))
	got, err := ParseHash(h.String())
	require.NoError(t, err)
	require.Equal(t, h, got)
	for _, bad := range []string{"", "zz", h.String()[:62], h.String() + "00"} {
		_, err := ParseHash(bad)
		require.Error(t, err, "%q", bad)
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func key(id string) SigningKey { return SigningKey{ID: id, Secret: bytes.Repeat([]byte(id[:1]), 32)} }

func TestTokensRotationAndExpiry(t *testing.T) {
	c := &clock{time.Unix(1_000_000, 0)}
	old, err := NewTokens([]SigningKey{key("k1")}, time.Hour, c.now)
	require.NoError(t, err)
	oldTok := old.Mint("s1", "agent-a")

	rotated, err := NewTokens([]SigningKey{key("k2"), key("k1")}, time.Hour, c.now)
	require.NoError(t, err)
	claims, err := rotated.Verify(oldTok)
	require.NoError(t, err, "an older key still verifies")
	require.Equal(t, Claims{SessionID: "s1", Agent: "agent-a", Expires: 1_000_000 + 3600}, claims)
	newTok := rotated.Mint("s2", "agent-b")
	require.True(t, strings.HasPrefix(newTok, "v1.k2."), "the first key signs: %s", newTok)
	_, err = old.Verify(newTok)
	require.ErrorIs(t, err, ErrInvalidToken, "a retired verifier does not know k2")

	dropped, err := NewTokens([]SigningKey{key("k2")}, time.Hour, c.now)
	require.NoError(t, err)
	_, err = dropped.Verify(oldTok)
	require.ErrorIs(t, err, ErrInvalidToken, "a key removed from the list no longer verifies")

	c.t = c.t.Add(time.Hour)
	_, err = rotated.Verify(newTok)
	require.ErrorIs(t, err, ErrExpiredToken)
}

func TestTokensRefuseTampering(t *testing.T) {
	tk, err := NewTokens([]SigningKey{key("k1")}, time.Hour, nil)
	require.NoError(t, err)
	tok := tk.Mint("s1", "agent-a")
	parts := strings.Split(tok, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sid":"victim","agt":"agent-a","exp":9999999999}`))
	other, err := NewTokens([]SigningKey{{ID: "k1", Secret: bytes.Repeat([]byte("z"), 32)}}, time.Hour, nil)
	require.NoError(t, err)
	for name, bad := range map[string]string{
		"empty":           "",
		"claims swapped":  strings.Join([]string{parts[0], parts[1], forged, parts[3]}, "."),
		"mac dropped":     strings.Join(parts[:3], ".") + ".",
		"version changed": "v2." + strings.Join(parts[1:], "."),
		"key id changed":  strings.Join([]string{parts[0], "k9", parts[2], parts[3]}, "."),
		"other secret":    other.Mint("s1", "agent-a"),
		"extra part":      tok + ".x",
		"mac not base64":  strings.Join(parts[:3], ".") + ".!!!",
		"truncated":       tok[:len(tok)-2],
	} {
		_, err := tk.Verify(bad)
		require.True(t, errors.Is(err, ErrInvalidToken), "%s: %v", name, err)
	}
}

func TestNewTokensRefusesWeakKeys(t *testing.T) {
	for name, keys := range map[string][]SigningKey{
		"none":      nil,
		"short":     {{ID: "k", Secret: []byte("short")}},
		"no id":     {{Secret: bytes.Repeat([]byte("a"), 32)}},
		"dot in id": {{ID: "k.1", Secret: bytes.Repeat([]byte("a"), 32)}},
		"duplicate": {key("k1"), key("k1")},
	} {
		_, err := NewTokens(keys, time.Hour, nil)
		require.Error(t, err, name)
	}
	_, err := NewTokens([]SigningKey{key("k1")}, 0, nil)
	require.Error(t, err)
}

// FuzzVerify changes a valid token's bytes: whatever Verify accepts must
// carry the claims the key signed, so no edit forges a session or agent.
func FuzzVerify(f *testing.F) {
	tk, err := NewTokens([]SigningKey{key("k1"), key("k2")}, time.Hour, nil)
	require.NoError(f, err)
	tok := tk.Mint("s1", "agent-a")
	want, err := tk.Verify(tok)
	require.NoError(f, err)
	f.Add(0, byte('x'), false)
	f.Add(3, byte('2'), false)          // key id k1 -> k2
	f.Add(len(tok)-1, byte('A'), false) // last MAC character
	f.Add(len(tok)/2, byte('.'), true)  // insert a separator
	f.Add(len(tok)-5, byte('\n'), true) // base64 decoders skip newlines
	f.Fuzz(func(t *testing.T, at int, b byte, insert bool) {
		if at < 0 || at >= len(tok) {
			return
		}
		var edited string
		if insert {
			edited = tok[:at] + string([]byte{b}) + tok[at:]
		} else {
			edited = tok[:at] + string([]byte{b}) + tok[at+1:]
		}
		got, err := tk.Verify(edited)
		if err == nil && got != want {
			t.Fatalf("edited token %q verified with claims %+v", edited, got)
		}
	})
}
