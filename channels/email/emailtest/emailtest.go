// Package emailtest starts a real, throwaway SMTP server for tests: the
// aiosmtpd Python package (pinned in training/requirements.txt) on a free
// loopback port, which records every message it accepts.
//
// Start's server requires STARTTLS, with a self-signed certificate made
// for the test (trust CertPool), and AUTH over TLS with Username and
// Password; StartPlain's offers neither. Recipient local parts steer the
// server's replies, so tests can provoke SMTP errors:
//
//	reply-NNN@example.com  RCPT is answered NNN (550, 553, 451, 452, 421, …)
//	data-NNN@example.com   RCPT is accepted, DATA is answered NNN
//	delay-MS@example.com   RCPT is answered after MS milliseconds
//
// Both skip the test when python3 or aiosmtpd is missing, unless the
// environment variable CI is "true", where they fail it. Run starts the
// plain server outside a test, for benchmarks (kairos bench dispatch).
//
// It is imported only by tests and benchmarks.
package emailtest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kairos/internal/pyenv"
	"kairos/internal/testproc"
)

//go:embed smtpd.py
var script []byte

// startTimeout bounds how long the server may take to report its port.
const startTimeout = 15 * time.Second

// Server is a running SMTP server owned by one test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	// CertPool trusts the server's certificate (nil for StartPlain).
	CertPool *x509.CertPool
	// Username and Password are the credentials AUTH accepts (empty for
	// StartPlain, which offers no AUTH).
	Username, Password string

	t   testing.TB // nil for Run's server
	dir string
	log string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser // the server stops when it closes
	exited chan struct{}
}

// Received is one message the server accepted.
type Received struct {
	// MailFrom and RcptTos are the envelope (MAIL FROM, RCPT TO).
	MailFrom string
	RcptTos  []string
	// Data is the message as received after DATA, dot-unstuffed, with
	// its CRLF line endings.
	Data []byte
	// TLS reports whether the session used STARTTLS.
	TLS bool
	// Login is the authenticated user, empty without AUTH.
	Login string
	// QueueID is the id the server gave in its reply to DATA
	// ("250 2.0.0 Ok: queued as Q000001").
	QueueID string
}

// Start starts a server that requires STARTTLS and AUTH, and registers
// its shutdown with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	py := pyenv.Python(t, "aiosmtpd")
	s := &Server{t: t, dir: t.TempDir(), Username: "kairos", Password: "s3cret-emailtest"}
	certFile, keyFile := filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem")
	s.CertPool = selfSigned(t, certFile, keyFile)
	if err := s.start(py, "--cert", certFile, "--key", keyFile, "--user", s.Username, "--password", s.Password); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartPlain starts a server that offers neither STARTTLS nor AUTH, and
// registers its shutdown with t.Cleanup.
func StartPlain(t testing.TB) *Server {
	t.Helper()
	py := pyenv.Python(t, "aiosmtpd")
	s := &Server{t: t, dir: t.TempDir()}
	if err := s.start(py); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Run starts a server like StartPlain's outside a test, for a benchmark:
// it keeps its files in dir, which must exist, and runs until Stop. It
// fails, naming the fix, when python3 or aiosmtpd is missing.
func Run(dir string) (*Server, error) {
	py, err := exec.LookPath("python3")
	if err == nil {
		if out, cerr := exec.Command(py, "-c", "import aiosmtpd").CombinedOutput(); cerr != nil {
			err = fmt.Errorf("%v: %s", cerr, bytes.TrimSpace(out))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("emailtest: python3 with aiosmtpd is not available (pip install -r training/requirements.txt): %w", err)
	}
	s := &Server{dir: dir}
	if err := s.start(py); err != nil {
		return nil, err
	}
	return s, nil
}

// TLSConfig returns a client configuration that trusts the server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.CertPool}
}

func (s *Server) start(py string, args ...string) error {
	msgs := filepath.Join(s.dir, "messages")
	if err := os.Mkdir(msgs, 0o755); err != nil {
		return fmt.Errorf("emailtest: %w", err)
	}
	scriptPath := filepath.Join(s.dir, "smtpd.py")
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		return fmt.Errorf("emailtest: %w", err)
	}
	s.log = filepath.Join(s.dir, "smtpd.log")
	logf, err := os.Create(s.log)
	if err != nil {
		return fmt.Errorf("emailtest: %w", err)
	}
	defer logf.Close()

	cmd := exec.Command(py, append([]string{scriptPath, "--dir", msgs}, args...)...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("emailtest: %w", err)
	}
	// The server stops when its stdin closes: when Stop closes it, or when
	// the test binary dies.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("emailtest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("emailtest: start %s: %w", py, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.stdin, s.exited = cmd, stdin, exited

	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	select {
	case p := <-port:
		if p == "" {
			<-exited
			s.Stop()
			return fmt.Errorf("emailtest: smtpd exited during start; log:\n%s", testproc.LogTail(s.log, 0))
		}
		s.Addr = net.JoinHostPort("127.0.0.1", p)
		return nil
	case <-time.After(startTimeout):
		s.Stop()
		return fmt.Errorf("emailtest: smtpd did not report its port within %s; log:\n%s", startTimeout, testproc.LogTail(s.log, 0))
	}
}

// Stop kills the server and waits for it to exit; sends to Addr fail
// afterwards. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.stdin.Close()
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.stdin, s.exited = nil, nil, nil
}

// Log returns the end of the server's log (aiosmtpd's warnings, Python
// tracebacks), for failure messages.
func (s *Server) Log() string { return testproc.LogTail(s.log, 0) }

// Messages returns the messages the server has accepted so far, in the
// order it accepted them.
func (s *Server) Messages() []Received {
	dir := filepath.Join(s.dir, "messages")
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.errorf("emailtest: %v", err)
		return nil
	}
	var out []Received
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			s.errorf("emailtest: %v", err)
			continue
		}
		var rec struct {
			MailFrom string   `json:"mail_from"`
			RcptTos  []string `json:"rcpt_tos"`
			Data     []byte   `json:"data"` // base64
			TLS      bool     `json:"tls"`
			Login    string   `json:"login"`
			QueueID  string   `json:"queue_id"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			s.errorf("emailtest: %s: %v", e.Name(), err)
			continue
		}
		out = append(out, Received(rec))
	}
	return slices.Clip(out)
}

// errorf reports an error to the test; Run's server has none, and its
// Messages skips what it cannot read.
func (s *Server) errorf(format string, args ...any) {
	if s.t != nil {
		s.t.Errorf(format, args...)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1, ::1 and
// localhost with its key, and returns a pool that trusts it.
func selfSigned(t testing.TB, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "emailtest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
