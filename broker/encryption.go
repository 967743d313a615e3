package broker

import (
	"slices"

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
