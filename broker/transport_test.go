package broker

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serveAPI serves h on a loopback port with the transport of api and
// returns the address.
func serveAPI(t *testing.T, api APIConfig, h http.Handler) string {
	t.Helper()
	ln, err := api.Listen("127.0.0.1:0")
	require.NoError(t, err)
	srv := api.Server(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// brokerHandler is the API of a broker over registry A.
func brokerHandler(t *testing.T) http.Handler {
	h := NewHandler(nil)
	h.Serve(newBroker(t, memoryConfig(registryA()), nil))
	return h
}

// pki is a CA that signs certificates, written as PEM files.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA's certificate
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.cert, p.key, p.file = p.issue(t, name, nil)
	return p
}

// issue makes a certificate for name signed by p (self-signed CA when p has
// none yet) and returns it with its key; files are name.pem, name-key.pem.
func (p *pki) issue(t *testing.T, name string, usage []x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  usage,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	parent, signer := tmpl, key
	if p.cert == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		parent, signer = p.cert, p.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	file := filepath.Join(p.dir, name+".pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, name+"-key.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key, file
}

func (p *pki) keyFile(name string) string { return filepath.Join(p.dir, name+"-key.pem") }

// clientCert returns a TLS client certificate for name signed by p.
func (p *pki) clientCert(t *testing.T, name string) tls.Certificate {
	cert, key, _ := p.issue(t, name, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

// tlsPost sends a request over TLS with cfg and returns the status.
func tlsPost(addr string, cfg *tls.Config) (int, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+addr+"/v1/request", "application/json",
		strings.NewReader(requestJSON("a", "cve", "tls")))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestTLS(t *testing.T) {
	ca := newPKI(t, "ca")
	ca.issue(t, "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	api := APIConfig{TLS: TLSConfig{CertFile: filepath.Join(ca.dir, "server.pem"), KeyFile: ca.keyFile("server")}}
	addr := serveAPI(t, api, brokerHandler(t))

	code, err := tlsPost(addr, &tls.Config{RootCAs: ca.pool()})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	_, err = tlsPost(addr, &tls.Config{RootCAs: newPKI(t, "other").pool()})
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown, "a client that does not trust the CA refuses the server")

	resp, err := http.Post("http://"+addr+"/v1/request", "application/json", strings.NewReader(requestJSON("a", "cve", "plain")))
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode, "plain HTTP is not served on a TLS port")
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newPKI(t, "ca")
	ca.issue(t, "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	api := APIConfig{TLS: TLSConfig{CertFile: filepath.Join(ca.dir, "server.pem"), KeyFile: ca.keyFile("server"),
		ClientCAFile: ca.file}}
	addr := serveAPI(t, api, brokerHandler(t))

	code, err := tlsPost(addr, &tls.Config{RootCAs: ca.pool(), Certificates: []tls.Certificate{ca.clientCert(t, "agent-a")}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	_, err = tlsPost(addr, &tls.Config{RootCAs: ca.pool()})
	require.Error(t, err, "no client certificate")
	require.Contains(t, err.Error(), "certificate required")

	rogue := newPKI(t, "rogue")
	mallory := rogue.clientCert(t, "mallory")
	_, err = tlsPost(addr, &tls.Config{RootCAs: ca.pool(),
		// Sent whatever CAs the server names, as an attacker would.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }})
	require.Error(t, err, "a client certificate from another CA")
	require.Contains(t, err.Error(), "unknown certificate authority")
}

func TestTLSConfigErrors(t *testing.T) {
	ca := newPKI(t, "ca")
	ca.issue(t, "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	cert, key := filepath.Join(ca.dir, "server.pem"), ca.keyFile("server")
	notPEM := filepath.Join(ca.dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for _, tc := range []struct {
		name string
		tls  TLSConfig
		key  string
	}{
		{"missing cert", TLSConfig{CertFile: filepath.Join(ca.dir, "nope.pem"), KeyFile: key}, "api.tls.cert_file"},
		{"key of another cert", TLSConfig{CertFile: cert, KeyFile: ca.keyFile("ca")}, "api.tls.cert_file"},
		{"missing client CA", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: filepath.Join(ca.dir, "nope.pem")}, "api.tls.client_ca_file"},
		{"client CA not PEM", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: notPEM}, "api.tls.client_ca_file"},
	} {
		_, err := APIConfig{TLS: tc.tls}.Listen("127.0.0.1:0")
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, tc.name)
		require.Equal(t, tc.key, ce.Key, tc.name)
	}
}

// rawConn dials addr with a deadline far beyond every timeout under test.
func rawConn(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	return conn, bufio.NewReader(conn)
}

// drip writes data a byte at a time every interval until it is written or
// the connection fails; it returns how many bytes went out.
func drip(conn net.Conn, data string, interval time.Duration) <-chan int {
	sent := make(chan int, 1)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		n := 0
		for ; n < len(data); n++ {
			if _, err := conn.Write([]byte{data[n]}); err != nil {
				break
			}
			<-tick.C
		}
		sent <- n
	}()
	return sent
}

const slowBody = `{"agent_id":"a","intent":"cve","context":{"session_id":"drip"}}`

// A body dripped slower than the read timeout is cut off with a 408 and
// the connection closed, long before the body would have been complete.
func TestSlowBodyIsCutOff(t *testing.T) {
	addr := serveAPI(t, APIConfig{Timeouts: TimeoutsConfig{Read: 300 * time.Millisecond}}, brokerHandler(t))
	conn, r := rawConn(t, addr)
	start := time.Now()
	fmt.Fprintf(conn, "POST /v1/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(slowBody))
	sent := drip(conn, slowBody, 50*time.Millisecond) // 3.2 s for the whole body

	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	require.Contains(t, body["error"], "reading request body")
	_, err = r.ReadByte()
	requireClosedByServer(t, err)
	conn.Close()
	require.Less(t, <-sent, len(slowBody), "cut off before the body was complete")
	t.Logf("cut off after %v", time.Since(start).Round(time.Millisecond))

	// Nothing was recorded, and the server goes on answering.
	code, _ := get(t, "http://"+addr+"/v1/sessions/drip")
	require.Equal(t, http.StatusNotFound, code)
}

// requireClosedByServer checks that a read ended because the server
// closed the connection (EOF, or a reset when it closed with our bytes
// unread), not at the client's deadline.
func requireClosedByServer(t *testing.T, err error) {
	t.Helper()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return
	}
	t.Fatalf("want the server to close the connection, got %v", err)
}

// Headers dripped slower than the read timeout: the connection is closed.
func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := serveAPI(t, APIConfig{Timeouts: TimeoutsConfig{Read: 300 * time.Millisecond}}, NewHandler(nil))
	conn, r := rawConn(t, addr)
	sent := drip(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("z", 100)+"\r\n\r\n", 50*time.Millisecond)
	got, err := io.ReadAll(r)
	requireClosedByServer(t, err)
	// net/http answers a request it could not read with a plain-text 400
	// before any handler runs, or with nothing.
	require.NotContains(t, string(got), "200 OK")
	conn.Close()
	require.Less(t, <-sent, 100)
}

// A kept-alive connection that sends nothing is closed after the idle
// timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := serveAPI(t, APIConfig{Timeouts: TimeoutsConfig{Idle: 200 * time.Millisecond}}, NewHandler(nil))
	conn, r := rawConn(t, addr)
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(r, nil)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	start := time.Now()
	_, err = r.ReadByte()
	require.ErrorIs(t, err, io.EOF)
	t.Logf("idle connection closed after %v", time.Since(start).Round(time.Millisecond))
}

func TestServerTimeouts(t *testing.T) {
	srv := APIConfig{}.Server(nil)
	require.Equal(t, DefaultReadTimeout, srv.ReadTimeout)
	require.Equal(t, DefaultReadTimeout, srv.ReadHeaderTimeout)
	require.Equal(t, DefaultWriteTimeout, srv.WriteTimeout)
	require.Equal(t, DefaultIdleTimeout, srv.IdleTimeout)
	srv = APIConfig{Timeouts: TimeoutsConfig{Read: time.Second, Write: 2 * time.Second, Idle: 3 * time.Second}}.Server(nil)
	require.Equal(t, []time.Duration{time.Second, time.Second, 2 * time.Second, 3 * time.Second},
		[]time.Duration{srv.ReadTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout, srv.IdleTimeout})
}

// With max_connections 1 a second connection waits, unanswered, until the
// first closes; then it is served.
func TestConnectionCap(t *testing.T) {
	addr := serveAPI(t, APIConfig{MaxConnections: 1}, NewHandler(nil))
	healthz := func(conn net.Conn, r *bufio.Reader) (*http.Response, error) {
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	first, r1 := rawConn(t, addr)
	resp, err := healthz(first, r1)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	second, r2 := rawConn(t, addr)
	require.NoError(t, second.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = healthz(second, r2)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the second connection is not served while the first is open: %v", err)

	first.Close()
	require.NoError(t, second.SetReadDeadline(time.Now().Add(30*time.Second)))
	resp, err = http.ReadResponse(r2, nil)
	require.NoError(t, err, "served once the first closed")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// Closing the listener wakes an Accept waiting for a slot, and a
// connection closed twice frees its slot once.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := newLimitListener(inner, 1)
	dialed, err := net.Dial("tcp", inner.Addr().String())
	require.NoError(t, err)
	defer dialed.Close()
	conn, err := ln.Accept()
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	conn.Close()
	require.Len(t, ln.sem, 0, "one slot freed, once")

	ln.sem <- struct{}{} // every slot taken
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	require.NoError(t, ln.Close())
	select {
	case err := <-accepted:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(30 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
}
