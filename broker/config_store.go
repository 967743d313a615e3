package broker

import (
	"net/url"
	"regexp"
	"strings"
)

// validate checks session_store against the persistence settings.
func (s SessionStoreConfig) validate(p PersistenceConfig) error {
	switch s.Backend {
	case StoreSQLite, StoreMemory:
		for key, v := range map[string]string{"broker_id": s.BrokerID, "dsn": s.DSN, "dsn_env": s.DSNEnv} {
			if v != "" {
				return configErr("session_store."+key, "only applies to backend %s (backend is %s)", StorePostgres, s.Backend)
			}
		}
		return nil
	case StorePostgres:
	default:
		return configErr("session_store.backend", "unknown backend %q (want sqlite, memory or postgres)", s.Backend)
	}
	if s.BrokerID == "" {
		return configErr("session_store.broker_id", "missing: every broker sharing a postgres store needs its own id, "+
			"under which its WAL checkpoint is kept")
	}
	if !brokerIDPattern.MatchString(s.BrokerID) {
		return configErr("session_store.broker_id", "%q: want 1 to 64 letters, digits, '.', '_' or '-'", s.BrokerID)
	}
	if s.DSN != "" && s.DSNEnv != "" {
		return configErr("session_store", "set dsn or dsn_env, not both")
	}
	if s.DSN != "" && dsnHasPassword(s.DSN) {
		// The DSN is not echoed: it holds the secret.
		return configErr("session_store.dsn", "carries a password; secrets never go in the config file: "+
			"put the DSN in the environment variable session_store.dsn_env names (default %s), "+
			"or the password in PGPASSWORD or a .pgpass file", DefaultDSNEnv)
	}
	if p.Mode != ModeSynchronous {
		return configErr("persistence.mode", "%s with session_store.backend %s: want %s, since async answers a request "+
			"before its state is in the store, where another broker sharing the store would not see it",
			p.Mode, StorePostgres, ModeSynchronous)
	}
	return nil
}

var brokerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keywordPassword finds a password in a keyword/value DSN ("host=db password=x").
var keywordPassword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// dsnHasPassword reports whether a postgres DSN, URL or keyword/value
// form, carries a password.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return true // unparsable: assume the worst rather than keep a secret in the file
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return keywordPassword.MatchString(dsn)
}

// dsn returns the postgres connection string: session_store.dsn, else the
// environment variable session_store.dsn_env names.
func (s SessionStoreConfig) dsn(lookup func(string) (string, bool)) (string, error) {
	if s.DSN != "" {
		return s.DSN, nil
	}
	v, ok := lookup(s.DSNEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return "", configErr("session_store.dsn_env", "environment variable %s is not set (it holds the postgres DSN)", s.DSNEnv)
	}
	return v, nil
}
