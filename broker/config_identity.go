package broker

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nautilus-go/nautilus/backend/vfs"
	"github.com/nautilus-go/nautilus/broker/identity"
)

// Agent is one entry of the agent registry: what an agent may ask for.
type Agent struct {
	// Clearance is the highest level a request of the agent may claim; a
	// request without one gets it.
	Clearance string `yaml:"clearance"`
	// Compartments the agent holds; a source with compartments is denied
	// to an agent lacking any of them.
	Compartments []string `yaml:"compartments"`
	// DefaultPurpose is the purpose of a request that names none.
	DefaultPurpose string `yaml:"default_purpose"`
	// ShareSessionsWith lists the agents that may read and write the
	// sessions this agent owns.
	ShareSessionsWith []string `yaml:"share_sessions_with"`
}

// APIConfig configures the HTTP API: who may call it, and how it listens.
type APIConfig struct {
	// AllowUnauthenticated lets `nautilus serve` listen on a non-loopback
	// address with no keys configured (it logs a warning).
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// Keys, when any, make a bearer key required on every /v1 route.
	Keys []APIKey `yaml:"keys"`

	// Transport: see transport.go.
	TLS            TLSConfig       `yaml:"tls"`
	Timeouts       TimeoutsConfig  `yaml:"timeouts"`
	MaxConnections int             `yaml:"max_connections"` // default DefaultMaxConnections
	RateLimit      RateLimitConfig `yaml:"rate_limit"`
}

// APIKey is one API key. The file holds its hash or names where the secret
// is read from, never the secret itself.
type APIKey struct {
	ID         string `yaml:"id"`          // names the key in logs; unique
	Agent      string `yaml:"agent"`       // the registry agent the key acts as
	Role       string `yaml:"role"`        // "admin" instead of an agent
	SHA256     string `yaml:"sha256"`      // hex SHA-256 of the secret, or:
	SecretEnv  string `yaml:"secret_env"`  // the environment variable holding the secret, or:
	SecretFile string `yaml:"secret_file"` // the file holding it (mode 0600 or stricter)
}

// RoleAdmin is the API key role that may read every session and act as any
// registry agent.
const RoleAdmin = "admin"

// SessionTokensConfig configures signed session tokens.
type SessionTokensConfig struct {
	// Enabled mints a token for each answered request, and makes a presented
	// token's session beat the declared one.
	Enabled bool `yaml:"enabled"`
	// Required refuses a request that names a session without its token,
	// so every session is one the broker handed out.
	Required bool `yaml:"required"`
	// TTLSeconds is a token's lifetime (default 3600).
	TTLSeconds int `yaml:"ttl_seconds"`
	// SigningKeys: the first signs, all verify; rotate by putting a new key
	// first and dropping the oldest once its tokens have expired.
	SigningKeys []SigningKeyConfig `yaml:"signing_keys"`
}

// SigningKeyConfig is one token signing key: an id and where its secret
// (at least 32 bytes) is read from.
type SigningKeyConfig struct {
	ID         string `yaml:"id"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// PurposeTTLConfig bounds a request's purpose_ttl_seconds.
type PurposeTTLConfig struct {
	MinSeconds float64 `yaml:"min_seconds"` // default 1
	MaxSeconds float64 `yaml:"max_seconds"` // default 86400
}

// Defaults of the identity settings.
const (
	DefaultTokenTTLSeconds      = 3600
	DefaultPurposeTTLMinSeconds = 1
	DefaultPurposeTTLMaxSeconds = 86400
	// MinAPIKeyBytes is the shortest API key secret accepted.
	MinAPIKeyBytes = 16
)

// identities are the credentials read from the environment and files.
type identities struct {
	keys   identity.Keys
	tokens []identity.SigningKey
}

func (c Config) identityDefaults() Config {
	if c.SessionTokens.TTLSeconds == 0 {
		c.SessionTokens.TTLSeconds = DefaultTokenTTLSeconds
	}
	if c.PurposeTTL.MinSeconds == 0 {
		c.PurposeTTL.MinSeconds = DefaultPurposeTTLMinSeconds
	}
	if c.PurposeTTL.MaxSeconds == 0 {
		c.PurposeTTL.MaxSeconds = DefaultPurposeTTLMaxSeconds
	}
	return c
}

// secretPaths returns the secret file settings, for path resolution.
func (c *Config) secretPaths() []*string {
	var out []*string
	for i := range c.API.Keys {
		out = append(out, &c.API.Keys[i].SecretFile)
	}
	for i := range c.SessionTokens.SigningKeys {
		out = append(out, &c.SessionTokens.SigningKeys[i].SecretFile)
	}
	return out
}

// validateIdentity checks the registry, the keys, the token and purpose
// settings; with lookup not nil it also reads every secret (from lookup's
// environment and from files) and returns them.
func (c Config) validateIdentity(lookup func(string) (string, bool)) (*identities, error) {
	for _, id := range sortedMapKeys(c.Agents) {
		a, key := c.Agents[id], "agents."+id
		if strings.TrimSpace(id) == "" {
			return nil, configErr(key, "empty agent id")
		}
		if rank(a.Clearance) < 0 {
			return nil, configErr(key+".clearance", "unknown level %q (want one of %s)", a.Clearance, strings.Join(ladder, ", "))
		}
		if err := checkCompartments(key+".compartments", a.Compartments); err != nil {
			return nil, err
		}
		for j, other := range a.ShareSessionsWith {
			if _, ok := c.Agents[other]; !ok {
				return nil, configErr(fmt.Sprintf("%s.share_sessions_with[%d]", key, j), "unknown agent %q (not in agents)", other)
			}
		}
	}
	ids := &identities{}
	keyIDs := map[string]bool{}
	for i, k := range c.API.Keys {
		key := fmt.Sprintf("api.keys[%d]", i)
		if k.ID == "" {
			return nil, configErr(key+".id", "missing")
		}
		if keyIDs[k.ID] {
			return nil, configErr(key+".id", "duplicate key id %q", k.ID)
		}
		keyIDs[k.ID] = true
		switch {
		case k.Agent != "" && k.Role != "":
			return nil, configErr(key, "set agent or role, not both")
		case k.Role != "" && k.Role != RoleAdmin:
			return nil, configErr(key+".role", "unknown role %q (want %s)", k.Role, RoleAdmin)
		case k.Agent == "" && k.Role == "":
			return nil, configErr(key, "set agent (an agent of the registry) or role: %s", RoleAdmin)
		case k.Agent != "":
			if _, ok := c.Agents[k.Agent]; !ok {
				return nil, configErr(key+".agent", "unknown agent %q (not in agents)", k.Agent)
			}
		}
		ik := identity.Key{ID: k.ID, Agent: k.Agent, Admin: k.Role == RoleAdmin}
		if k.SHA256 != "" {
			if k.SecretEnv != "" || k.SecretFile != "" {
				return nil, configErr(key, "set one of sha256, secret_env, secret_file")
			}
			h, err := identity.ParseHash(k.SHA256)
			if err != nil {
				return nil, configErr(key+".sha256", "%v", err)
			}
			ik.Hash = h
		} else {
			secret, err := readSecret(key, k.SecretEnv, k.SecretFile, MinAPIKeyBytes, lookup)
			if err != nil {
				return nil, err
			}
			ik.Hash = identity.HashSecret(secret)
		}
		ids.keys = append(ids.keys, ik)
	}
	st := c.SessionTokens
	if st.Required && !st.Enabled {
		return nil, configErr("session_tokens.required", "needs session_tokens.enabled: true")
	}
	if st.TTLSeconds < 0 {
		return nil, configErr("session_tokens.ttl_seconds", "%d, want > 0", st.TTLSeconds)
	}
	if st.Enabled && len(st.SigningKeys) == 0 {
		return nil, configErr("session_tokens.signing_keys", "empty: enabled tokens need a signing key")
	}
	for i, k := range st.SigningKeys {
		key := fmt.Sprintf("session_tokens.signing_keys[%d]", i)
		secret, err := readSecret(key, k.SecretEnv, k.SecretFile, identity.MinSigningKeyBytes, lookup)
		if err != nil {
			return nil, err
		}
		ids.tokens = append(ids.tokens, identity.SigningKey{ID: k.ID, Secret: secret})
	}
	if len(st.SigningKeys) > 0 {
		// NewTokens checks ids, duplicates and lengths; with lookup nil the
		// secrets are stand-ins of the right size.
		if _, err := identity.NewTokens(ids.tokens, time.Second, nil); err != nil {
			return nil, configErr("session_tokens.signing_keys", "%v", err)
		}
	}
	p := c.PurposeTTL
	if p.MinSeconds <= 0 || p.MaxSeconds < p.MinSeconds {
		return nil, configErr("purpose_ttl", "min_seconds %g, max_seconds %g: want 0 < min_seconds <= max_seconds", p.MinSeconds, p.MaxSeconds)
	}
	if lookup == nil {
		return nil, nil
	}
	return ids, nil
}

// readSecret reads the secret that env or file (exactly one) names, at
// least min bytes. With lookup nil it only checks the settings and returns
// a stand-in. A file's trailing newline is not part of the secret. Errors
// name the setting and the variable or file, never the secret.
func readSecret(key, env, file string, min int, lookup func(string) (string, bool)) ([]byte, error) {
	var secret []byte
	switch {
	case (env == "") == (file == ""):
		return nil, configErr(key, "set exactly one of secret_env, secret_file (the secret itself never goes in the file)")
	case lookup == nil:
		return make([]byte, min), nil
	case env != "":
		v, ok := lookup(env)
		if !ok {
			return nil, configErr(key+".secret_env", "environment variable %s is not set", env)
		}
		secret = []byte(v)
	default:
		b, err := vfs.ReadPrivateFile(file)
		var open *vfs.NotPrivateError
		var perr *os.PathError
		switch {
		case errors.As(err, &open):
			return nil, configErr(key+".secret_file", "%s: mode %v lets others read the secret (want 0600 or stricter)", file, open.Mode)
		case errors.As(err, &perr):
			return nil, configErr(key+".secret_file", "%s: %v", file, perr.Err)
		case err != nil:
			return nil, configErr(key+".secret_file", "%s: %v", file, err)
		}
		secret = b
		secret = []byte(strings.TrimRight(string(secret), "\r\n"))
	}
	if len(secret) < min {
		what := "environment variable " + env
		if file != "" {
			what = file
		}
		return nil, configErr(key, "the secret in %s is %d bytes, want at least %d", what, len(secret), min)
	}
	return secret, nil
}

func checkCompartments(key string, compartments []string) error {
	for i, c := range compartments {
		if strings.TrimSpace(c) == "" {
			return configErr(fmt.Sprintf("%s[%d]", key, i), "empty compartment")
		}
	}
	return nil
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
