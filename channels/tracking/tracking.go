// Package tracking makes and serves the signed links of sent messages:
// an open pixel, click redirects and a one-click unsubscribe. A link's
// token carries what it is about (kind, decision, customer, campaign,
// channel, for a click the target URL) and an expiry, signed with
// HMAC-SHA256; a forged, altered or expired token changes nothing and gets
// a plain error page. A click redirects only to the URL its token was
// minted for — the URLs of the rendered message — so there is no open
// redirect.
//
// What a link reports becomes an event through the normal Track path
// (email_opened, email_clicked or push_clicked, unsubscribed), with an
// event id derived from the decision (and URL), so that a repeated click
// or open counts once; an unsubscribe also revokes the channel's consent
// in the customer record, so decisioning stops choosing it.
package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of links.
const (
	Open        = "o"
	Click       = "c"
	Unsubscribe = "u"
)

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// Claims are what a token says.
type Claims struct {
	Kind       string `json:"k"`
	DecisionID string `json:"d"`
	CustomerID string `json:"u"`
	Campaign   string `json:"c"`
	Channel    string `json:"ch"`
	// URL is the click's target.
	URL string `json:"url,omitempty"`
	// Expires is Unix seconds.
	Expires int64 `json:"e"`
}

// ErrBadToken is returned for a token that is malformed, forged or
// expired.
var ErrBadToken = errors.New("tracking: invalid or expired link")

// Signer mints and checks tokens.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a Signer with key (at least MinKeyBytes); now nil
// means time.Now.
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("tracking: the signing key must be at least %d bytes, got %d", MinKeyBytes, len(key))
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: append([]byte(nil), key...), now: now}, nil
}

var b64 = base64.RawURLEncoding

// Token returns the signed token of c: base64url(JSON) "." base64url(MAC).
func (s *Signer) Token(c Claims) string {
	payload, _ := json.Marshal(c) // Claims always encode
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac(p))
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks a token and returns its claims.
func (s *Signer) Verify(token string) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return Claims{}, ErrBadToken
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return Claims{}, ErrBadToken
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return Claims{}, ErrBadToken
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, ErrBadToken
	}
	if s.now().Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("%w (expired)", ErrBadToken)
	}
	switch c.Kind {
	case Open, Unsubscribe:
	case Click:
		if !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") {
			return Claims{}, ErrBadToken
		}
	default:
		return Claims{}, ErrBadToken
	}
	return c, nil
}

// Links mints the links of one message under base (e.g.
// "https://t.example.com"), valid for ttl.
type Links struct {
	signer *Signer
	base   string
	claims Claims
}

// For returns the link maker of a message.
func (s *Signer) For(base, decisionID, customerID, campaign, channel string, ttl time.Duration) *Links {
	return &Links{signer: s, base: strings.TrimRight(base, "/"), claims: Claims{
		DecisionID: decisionID, CustomerID: customerID, Campaign: campaign, Channel: channel,
		Expires: s.now().Add(ttl).Unix(),
	}}
}

func (l *Links) link(kind, url string) string {
	c := l.claims
	c.Kind, c.URL = kind, url
	return l.base + "/t/" + kind + "/" + l.signer.Token(c)
}

// Open returns the open pixel's URL.
func (l *Links) Open() string { return l.link(Open, "") }

// Click returns the tracking link that redirects to url.
func (l *Links) Click(url string) string { return l.link(Click, url) }

// Unsubscribe returns the one-click unsubscribe URL.
func (l *Links) Unsubscribe() string { return l.link(Unsubscribe, "") }
