package push

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"kairos/channels"
)

const (
	// defaultTokenURI is Google's OAuth 2.0 token endpoint, used when the
	// credentials carry no token_uri.
	defaultTokenURI = "https://oauth2.googleapis.com/token"
	// messagingScope is the scope FCM's HTTP v1 API requires.
	messagingScope = "https://www.googleapis.com/auth/firebase.messaging"
	// jwtBearer is the grant type of RFC 7523 §2.1.
	jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// assertionLifetime is the assertion's exp - iat, the most Google
	// accepts.
	assertionLifetime = time.Hour
	// clockSkew backdates the assertion's iat, so that an endpoint whose
	// clock is a little behind does not refuse it as issued in the future
	// (golang.org/x/oauth2 does the same).
	clockSkew = 10 * time.Second
	// refreshEarly is how long before its expiry a cached access token is
	// replaced, so that a token never expires in flight.
	refreshEarly = 60 * time.Second
	// maxTokenLifetime caps the endpoint's expires_in (Google's tokens live
	// an hour; a larger value is a broken endpoint).
	maxTokenLifetime = 24 * time.Hour
)

// ServiceAccountTokenSource returns a TokenSource for Options.TokenSource
// that obtains OAuth 2.0 access tokens for FCM from a Google service
// account: credentialsJSON is the account's JSON key file, and client
// sends the token requests (a client with a 10s timeout when nil).
//
// The credentials must have type "service_account", client_email,
// private_key (an RSA key in PEM, PKCS #8 or PKCS #1) and private_key_id;
// token_uri defaults to https://oauth2.googleapis.com/token. A missing or
// invalid field is an error naming it.
//
// The TokenSource performs the JWT bearer grant (RFC 7523) as Google
// documents it for service accounts: it signs an RS256 assertion for the
// scope https://www.googleapis.com/auth/firebase.messaging with audience
// token_uri, lifetime one hour, and posts it to token_uri. It caches the
// access token until 60 seconds before it expires, so a Send normally
// makes no token request. It is safe for concurrent use: one caller
// refreshes at a time, and callers that need a token meanwhile wait for
// that refresh (or for their ctx to end). A failed refresh is not cached:
// the next call tries again.
//
// Errors: a refusal of the credentials (HTTP 400, 401, 403, e.g.
// invalid_grant for a deleted key or a wrong clock) matches ErrCredentials
// with errors.Is and carries the endpoint's error and error_description; a
// network failure, a 429 or a 5xx is a Transient *channels.Error (with the
// Retry-After); any other answer is a plain error (token_uri is likely
// wrong).
func ServiceAccountTokenSource(credentialsJSON []byte, client *http.Client) (func(ctx context.Context) (string, error), error) {
	sa, err := newServiceAccount(credentialsJSON, client)
	if err != nil {
		return nil, err
	}
	return sa.token, nil
}

// serviceAccount is the token source behind ServiceAccountTokenSource.
type serviceAccount struct {
	email    string
	tokenURI string
	header   string // the assertion's encoded JWT header
	key      *rsa.PrivateKey
	client   *http.Client
	now      func() time.Time // replaced in tests

	// refresh is a one-slot semaphore held by the caller that refreshes
	// the token; unlike a mutex, waiting for it honours ctx.
	refresh chan struct{}

	mu    sync.Mutex
	tok   string    // the cached access token, "" when none
	fresh time.Time // tok is used before this instant
}

// credentialsFile is the subset of a service-account key file the token
// source uses.
type credentialsFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

func newServiceAccount(credentialsJSON []byte, client *http.Client) (*serviceAccount, error) {
	var f credentialsFile
	if err := json.Unmarshal(credentialsJSON, &f); err != nil {
		return nil, fmt.Errorf("push: service account credentials: not a JSON key file: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("push: service account credentials: "+format, args...)
	}
	switch f.Type {
	case "service_account":
	case "":
		return nil, bad(`type: missing (want "service_account"; use a service account's JSON key file)`)
	default:
		return nil, bad(`type %q: want "service_account" (this is not a service account's key; create one in the Google Cloud console under IAM & Admin > Service Accounts > Keys)`, f.Type)
	}
	if f.ClientEmail == "" {
		return nil, bad("client_email: missing")
	}
	if !strings.Contains(f.ClientEmail, "@") {
		return nil, bad("client_email %q: not an email address", f.ClientEmail)
	}
	if f.PrivateKeyID == "" {
		return nil, bad("private_key_id: missing")
	}
	if f.PrivateKey == "" {
		return nil, bad("private_key: missing")
	}
	key, err := parseRSAKey(f.PrivateKey)
	if err != nil {
		return nil, bad("private_key: %v", err)
	}
	tokenURI := f.TokenURI
	if tokenURI == "" {
		tokenURI = defaultTokenURI
	}
	if u, err := url.Parse(tokenURI); err != nil || !(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) || u.Host == "" {
		return nil, bad("token_uri %q: must be an absolute https URL, or http on a loopback address (Google's is %s)", tokenURI, defaultTokenURI)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"RS256", "JWT", f.PrivateKeyID})
	if err != nil {
		return nil, bad("private_key_id: %v", err)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &serviceAccount{
		email:    f.ClientEmail,
		tokenURI: tokenURI,
		header:   base64.RawURLEncoding.EncodeToString(header),
		key:      key,
		client:   client,
		now:      time.Now,
		refresh:  make(chan struct{}, 1),
	}, nil
}

// parseRSAKey reads an RSA private key in PEM: PKCS #8 ("PRIVATE KEY", as
// Google issues them) or PKCS #1 ("RSA PRIVATE KEY"). Its errors never
// quote the key.
func parseRSAKey(s string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		if strings.Contains(s, `\n`) {
			return nil, errors.New(`not PEM: its line breaks are escaped twice (a literal \n); put the key file's value in unchanged`)
		}
		return nil, errors.New("not PEM (want -----BEGIN PRIVATE KEY-----)")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #8: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, want an RSA key", k)
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS #1: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("PEM block %q: want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
}

// token returns the cached access token, refreshing it when it is about to
// expire.
func (sa *serviceAccount) token(ctx context.Context) (string, error) {
	if tok, ok := sa.cached(); ok {
		return tok, nil
	}
	select {
	case sa.refresh <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("push: service account token: waiting for the refresh in progress: %w", ctx.Err())
	}
	defer func() { <-sa.refresh }()
	// Another caller may have refreshed while this one waited.
	if tok, ok := sa.cached(); ok {
		return tok, nil
	}
	start := sa.now()
	tok, ttl, err := sa.grant(ctx, start)
	if err != nil {
		return "", err
	}
	sa.mu.Lock()
	sa.tok, sa.fresh = tok, start.Add(ttl-refreshEarly)
	sa.mu.Unlock()
	return tok, nil
}

func (sa *serviceAccount) cached() (string, bool) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.tok, sa.tok != "" && sa.now().Before(sa.fresh)
}

// grant exchanges a fresh assertion for an access token and returns the
// token and its lifetime.
func (sa *serviceAccount) grant(ctx context.Context, now time.Time) (string, time.Duration, error) {
	assertion, err := sa.assertion(now)
	if err != nil {
		return "", 0, err
	}
	form := url.Values{"grant_type": {jwtBearer}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sa.tokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("push: token endpoint %s: %w", sa.tokenURI, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, raw, err := channels.Exchange(sa.client, req, maxBody, "push: token endpoint "+sa.tokenURI)
	var ce *channels.Error
	if errors.As(err, &ce) && ce.Kind == channels.Ambiguous {
		// A token request is safe to repeat: it sends no message.
		ce.Kind = channels.Transient
	}
	if err != nil {
		return "", 0, err
	}
	return sa.decode(resp, raw, now)
}

// assertion returns the signed JWT of the grant: header {alg RS256, typ
// JWT, kid private_key_id}, claims {iss, scope, aud, iat, exp}.
func (sa *serviceAccount) assertion(now time.Time) (string, error) {
	iat := now.Add(-clockSkew)
	claims, err := json.Marshal(jwtClaims{
		Iss:   sa.email,
		Scope: messagingScope,
		Aud:   sa.tokenURI,
		Iat:   iat.Unix(),
		Exp:   iat.Add(assertionLifetime).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("push: service account assertion: %w", err)
	}
	signed := sa.header + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, sa.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("push: service account assertion: sign with private_key: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// Wire format of the token endpoint's answers (RFC 6749 §5.1, §5.2).
type (
	tokenResponse struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	tokenError struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
)

// decode reads the token endpoint's answer to a grant sent at now.
func (sa *serviceAccount) decode(resp *http.Response, raw []byte, now time.Time) (string, time.Duration, error) {
	where := "push: token endpoint " + sa.tokenURI
	if resp.StatusCode/100 == 2 {
		var ok tokenResponse
		if err := json.Unmarshal(raw, &ok); err != nil {
			return "", 0, fmt.Errorf("%s: HTTP %d with a body that is not a token response (is token_uri Google's token endpoint?): %s", where, resp.StatusCode, channels.Snippet(raw))
		}
		if ok.AccessToken == "" {
			return "", 0, fmt.Errorf("%s: HTTP %d without an access_token (is token_uri Google's token endpoint?)", where, resp.StatusCode)
		}
		if ok.TokenType != "" && !strings.EqualFold(ok.TokenType, "Bearer") {
			return "", 0, fmt.Errorf("%s: token_type %q: want Bearer (is token_uri Google's token endpoint?)", where, ok.TokenType)
		}
		// A token without a (positive) expires_in is used once, never
		// cached: better a token request per message than an expired token.
		ttl := time.Duration(min(max(ok.ExpiresIn, 0), int64(maxTokenLifetime/time.Second))) * time.Second
		return ok.AccessToken, ttl, nil
	}

	var e tokenError
	desc := "HTTP " + strconv.Itoa(resp.StatusCode)
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		desc += " " + e.Error
		if e.Description != "" {
			desc += ": " + e.Description
		}
	} else if s := channels.Snippet(raw); s != "" {
		desc += ": " + s
	}
	switch code := resp.StatusCode; {
	case code == http.StatusBadRequest, code == http.StatusUnauthorized, code == http.StatusForbidden:
		return "", 0, &credentialsError{fmt.Sprintf(
			"%s refused the service account %s (check the service account key: it may have been deleted, disabled or replaced; and check this machine's clock): %s",
			where, sa.email, desc)}
	case code == http.StatusTooManyRequests, code >= 500:
		return "", 0, &channels.Error{
			Kind:       channels.Transient,
			Code:       cmp.Or(e.Error, strconv.Itoa(code)),
			RetryAfter: channels.ParseRetryAfter(resp.Header.Get("Retry-After"), now),
			Err:        fmt.Errorf("%s: %s", where, desc),
		}
	}
	return "", 0, fmt.Errorf("%s: %s (check token_uri in the credentials; Google's is %s)", where, desc, defaultTokenURI)
}

// credentialsError is the token endpoint's refusal of the service account.
// It matches ErrCredentials, like FCM's own refusal of the token: either
// way the credentials need fixing, and a retry will not help.
type credentialsError struct{ msg string }

func (e *credentialsError) Error() string        { return e.msg }
func (e *credentialsError) Is(target error) bool { return target == ErrCredentials }

// loopback reports whether host is localhost or a loopback IP: the only
// place a signed assertion may travel unencrypted.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
