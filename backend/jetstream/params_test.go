package jetstream_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nautilus-go/nautilus/backend"
	"github.com/nautilus-go/nautilus/backend/jetstream"
)

// TestCheckParams: a bad param is refused before anything is touched, by an
// error naming it.
func TestCheckParams(t *testing.T) {
	const url = "nats://127.0.0.1:4222"
	for _, tc := range []struct {
		name   string
		params map[string]string
		key    string // the param the error must name; "" for none
	}{
		{"embedded defaults", nil, ""},
		{"cluster", map[string]string{jetstream.ParamURL: url, jetstream.ParamReplicas: "3", jetstream.ParamStream: "orders",
			jetstream.ParamCredsFile: "/etc/nats/wal.creds", jetstream.ParamTLSCert: "c.pem", jetstream.ParamTLSKey: "k.pem", jetstream.ParamTLSCA: "ca.pem"}, ""},
		{"url and embedded_dir", map[string]string{jetstream.ParamURL: url, jetstream.ParamEmbeddedDir: "/var/lib/wal"}, jetstream.ParamEmbeddedDir},
		{"stream with a dot", map[string]string{jetstream.ParamStream: "a.b"}, jetstream.ParamStream},
		{"empty stream", map[string]string{jetstream.ParamStream: ""}, jetstream.ParamStream},
		{"replicas not a number", map[string]string{jetstream.ParamURL: url, jetstream.ParamReplicas: "three"}, jetstream.ParamReplicas},
		{"replicas 0", map[string]string{jetstream.ParamURL: url, jetstream.ParamReplicas: "0"}, jetstream.ParamReplicas},
		{"replicas 6", map[string]string{jetstream.ParamURL: url, jetstream.ParamReplicas: "6"}, jetstream.ParamReplicas},
		{"replicas 3 embedded", map[string]string{jetstream.ParamReplicas: "3"}, jetstream.ParamReplicas},
		{"tls_cert alone", map[string]string{jetstream.ParamURL: url, jetstream.ParamTLSCert: "c.pem"}, jetstream.ParamTLSKey},
		{"tls_key alone", map[string]string{jetstream.ParamURL: url, jetstream.ParamTLSKey: "k.pem"}, jetstream.ParamTLSCert},
		{"creds embedded", map[string]string{jetstream.ParamCredsFile: "wal.creds"}, jetstream.ParamCredsFile},
		{"append_timeout 0", map[string]string{jetstream.ParamAppendTimeout: "0s"}, jetstream.ParamAppendTimeout},
		{"append_timeout bad", map[string]string{jetstream.ParamAppendTimeout: "soon"}, jetstream.ParamAppendTimeout},
		{"password in config", map[string]string{jetstream.ParamURL: url, "password": "hunter2"}, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() + "/wal"
			err := backend.CheckParams(backend.Config{Backend: jetstream.Name, Dir: dir, Params: tc.params})
			if tc.key == "" {
				if err != nil {
					t.Fatalf("CheckParams = %v, want nil", err)
				}
				return
			}
			var perr *backend.ParamError
			if !errors.As(err, &perr) || perr.Key != tc.key {
				t.Fatalf("CheckParams = %v, want a *backend.ParamError naming %s", err, tc.key)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %q does not name %s", err, tc.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q repeats a secret", err)
			}
		})
	}
}
