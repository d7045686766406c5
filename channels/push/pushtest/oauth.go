package pushtest

import (
	"cmp"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scope is the OAuth2 scope FCM requires; the TokenServer refuses an
// assertion that does not ask for it.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// grantType is the JWT bearer grant (RFC 7523 §2.1).
const grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// TokenResponse is a programmed answer to one well-formed token request.
// The zero TokenResponse is a success: 200 with a fresh access token
// ("ya29.fake-1", "ya29.fake-2", …) that expires in 3599 seconds, as
// Google's endpoint answers.
type TokenResponse struct {
	// Status is the HTTP status; 200 when zero.
	Status int
	// Error and Description are the OAuth2 error body's "error" and
	// "error_description" (RFC 6749 §5.2) of a non-2xx answer.
	Error       string
	Description string
	// AccessToken is the token a success issues; a fresh one when empty.
	AccessToken string
	// ExpiresIn is the success's expires_in in seconds; 3599 when zero,
	// omitted when negative.
	ExpiresIn int
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// Body, when set, is sent verbatim instead of a JSON body.
	Body string
	// Hang makes the server never answer: it holds the request until the
	// client gives up or the server is closed.
	Hang bool
}

// TokenServer is a fake Google OAuth 2.0 token endpoint
// (https://oauth2.googleapis.com/token) for one service account. It serves
// the JWT bearer grant (RFC 7523) the way Google documents it for service
// accounts: it verifies the assertion's RS256 signature with the account's
// public key, its header (kid) and its claims (iss, scope, aud, iat, exp),
// and answers with an access token or an OAuth2 error body. It is safe for
// concurrent use.
type TokenServer struct {
	// URL is the token endpoint: the token_uri of the credentials and the
	// audience the assertion must name.
	URL string
	// Email and KeyID are the service account's client_email and
	// private_key_id.
	Email string
	KeyID string

	pub     *rsa.PublicKey
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	now      func() time.Time
	script   []TokenResponse
	requests int
	issued   int
}

// NewTokenServer starts a fake token endpoint for the service account
// email whose key keyID has the public key pub. Close it when done.
func NewTokenServer(email, keyID string, pub *rsa.PublicKey) *TokenServer {
	s := &TokenServer{
		Email:   email,
		KeyID:   keyID,
		pub:     pub,
		closing: make(chan struct{}),
		now:     time.Now,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/token"
	return s
}

// Close releases hanging requests and shuts the server down.
func (s *TokenServer) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// SetClock replaces the clock the server checks iat and exp against
// (time.Now by default), for tests that move time forward.
func (s *TokenServer) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Respond programs the answers to well-formed token requests: each request
// takes the next response, and the last one repeats. With no responses the
// server issues tokens again. A malformed request (a bad signature, a
// wrong claim) is refused without taking a response.
func (s *TokenServer) Respond(rs ...TokenResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append([]TokenResponse(nil), rs...)
}

// Requests returns how many requests the server has received, well-formed
// or not.
func (s *TokenServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Credentials returns a service-account key file (the JSON the Google
// Cloud console downloads) for the server's account with the private key
// key in PKCS #8 PEM, as Google issues it, and token_uri s.URL. Pass a key
// whose public key is not the server's to get credentials it refuses.
func (s *TokenServer) Credentials(key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  "kairos-test",
		"private_key_id":              s.KeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                s.Email,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.URL,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// Google's error descriptions for a refused assertion.
const (
	descSignature = "Invalid JWT Signature."
	descTimeframe = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
)

// maxSkew is how far in the future the server accepts an iat.
const maxSkew = 5 * time.Minute

func (s *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	now := s.now()
	s.mu.Unlock()

	if r.URL.Path != "/token" {
		writeOAuthError(w, TokenResponse{Status: http.StatusNotFound, Error: "not_found", Description: "path " + r.URL.Path + ": want /token"})
		return
	}
	if r.Method != http.MethodPost {
		writeOAuthError(w, TokenResponse{Status: http.StatusMethodNotAllowed, Error: "invalid_request", Description: "method " + r.Method + ": want POST"})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		writeOAuthError(w, TokenResponse{Status: http.StatusBadRequest, Error: "invalid_request", Description: fmt.Sprintf("Content-Type %q: want application/x-www-form-urlencoded", ct)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, TokenResponse{Status: http.StatusBadRequest, Error: "invalid_request", Description: err.Error()})
		return
	}
	if g := r.PostForm.Get("grant_type"); g != grantType {
		writeOAuthError(w, TokenResponse{Status: http.StatusBadRequest, Error: "unsupported_grant_type", Description: "Invalid grant_type: " + g})
		return
	}
	if resp, ok := s.verify(r.PostForm.Get("assertion"), now); !ok {
		writeOAuthError(w, resp)
		return
	}

	s.mu.Lock()
	resp := TokenResponse{}
	if len(s.script) > 0 {
		resp = s.script[0]
		if len(s.script) > 1 {
			s.script = s.script[1:]
		}
	}
	if resp.Hang {
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler)
	}
	if (resp.Status == 0 || resp.Status/100 == 2) && resp.Body == "" && resp.AccessToken == "" {
		s.issued++
		resp.AccessToken = fmt.Sprintf("ya29.fake-%d", s.issued)
	}
	s.mu.Unlock()

	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	if resp.Body != "" {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(cmp.Or(resp.Status, http.StatusOK))
		fmt.Fprint(w, resp.Body)
		return
	}
	if resp.Status != 0 && resp.Status/100 != 2 {
		writeOAuthError(w, resp)
		return
	}
	body := map[string]any{"access_token": resp.AccessToken, "token_type": "Bearer"}
	switch {
	case resp.ExpiresIn == 0:
		body["expires_in"] = 3599
	case resp.ExpiresIn > 0:
		body["expires_in"] = resp.ExpiresIn
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(cmp.Or(resp.Status, http.StatusOK))
	json.NewEncoder(w).Encode(body)
}

// verify checks a JWT bearer assertion as Google does for a service
// account, and returns the error answer when it is refused.
func (s *TokenServer) verify(assertion string, now time.Time) (TokenResponse, bool) {
	refuse := func(desc string) (TokenResponse, bool) {
		return TokenResponse{Status: http.StatusBadRequest, Error: "invalid_grant", Description: desc}, false
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return refuse("Invalid JWT: the assertion is not a signed JWT (header.claims.signature)")
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return refuse("Invalid JWT header: " + err.Error())
	}
	if header.Alg != "RS256" || header.Typ != "JWT" {
		return refuse(fmt.Sprintf("Invalid JWT header: alg %q, typ %q: want RS256, JWT", header.Alg, header.Typ))
	}
	if header.Kid != s.KeyID {
		return refuse(fmt.Sprintf("Invalid JWT header: kid %q is not a key of %s", header.Kid, s.Email))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return refuse(descSignature)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.pub, crypto.SHA256, sum[:], sig) != nil {
		return refuse(descSignature)
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return refuse("Invalid JWT claims: " + err.Error())
	}
	if claims.Iss != s.Email {
		return refuse("Invalid email or User ID")
	}
	if claims.Aud != s.URL {
		return refuse(fmt.Sprintf("Invalid JWT: Failed audience check. The right audience is %s", s.URL))
	}
	if !slices.Contains(strings.Fields(claims.Scope), Scope) {
		return TokenResponse{Status: http.StatusBadRequest, Error: "invalid_scope", Description: fmt.Sprintf("scope %q: want %s", claims.Scope, Scope)}, false
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || !exp.After(iat) || exp.Sub(iat) > time.Hour ||
		iat.After(now.Add(maxSkew)) || !exp.After(now) {
		return refuse(descTimeframe)
	}
	return TokenResponse{}, true
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeOAuthError writes r as an OAuth2 error body (RFC 6749 §5.2).
func writeOAuthError(w http.ResponseWriter, r TokenResponse) {
	body := map[string]string{"error": r.Error}
	if r.Description != "" {
		body["error_description"] = r.Description
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(r.Status)
	json.NewEncoder(w).Encode(body)
}
