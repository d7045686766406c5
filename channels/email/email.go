// Package email is the SMTP transport of channels: it sends one rendered
// message per SMTP conversation (STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA),
// builds the MIME message itself (multipart/alternative text and HTML,
// quoted-printable UTF-8, List-Unsubscribe one-click headers, a Message-ID
// made of the decision id) and classifies SMTP replies into channels.Error
// kinds.
//
// It owns nothing but the SMTP conversation: no templates, retries or
// ledger. It imports only the standard library and kairos/channels, and
// must not import the decisioning packages.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kairos/channels"
)

// DefaultTimeout bounds a whole send (dial and conversation) when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Transport.
type Options struct {
	// Addr is the SMTP server's host:port, such as smtp.example.com:587.
	Addr string
	// Username and Password, when set, authenticate with AUTH PLAIN. They
	// are sent only over TLS or to a loopback host, as net/smtp requires.
	Username, Password string
	// From is the sender, an address optionally with a display name:
	// "Kairos <news@example.com>". Its domain is the right-hand side of
	// every Message-ID.
	From string
	// AllowPlaintext permits sending in clear text to a server that does
	// not offer STARTTLS. The zero value requires STARTTLS: a server that
	// does not offer it gets no message. STARTTLS is used whenever the
	// server offers it, either way.
	AllowPlaintext bool
	// TLSConfig is used for STARTTLS. Nil means the system roots; an
	// empty ServerName is taken from Addr's host.
	TLSConfig *tls.Config
	// Timeout bounds a send, dial and conversation; zero means
	// DefaultTimeout. A context deadline that comes sooner wins.
	Timeout time.Duration
	// LocalName is the name given in EHLO; empty means "localhost".
	LocalName string
}

// Transport sends email through one SMTP server. It is safe for
// concurrent use: each Send has its own connection.
type Transport struct {
	addr      string
	host      string
	username  string
	password  string
	from      *mail.Address
	domain    string // of from, for Message-IDs
	plaintext bool
	tls       *tls.Config
	timeout   time.Duration
	localName string
	now       func() time.Time
}

var _ channels.Transport = (*Transport)(nil)

// New validates opts and returns a Transport. Its errors name the field
// and the rule it broke; they never contain the password.
func New(opts Options) (*Transport, error) {
	host, port, err := net.SplitHostPort(opts.Addr)
	if err == nil && host == "" {
		err = errors.New("empty host")
	}
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("email: Options.Addr: must be host:port, such as smtp.example.com:587 (got %q)", opts.Addr)
	}
	if (opts.Username == "") != (opts.Password == "") {
		return nil, errors.New("email: Options.Username, Options.Password: must be set together or not at all")
	}
	if hasCtl(opts.Username) {
		return nil, errors.New("email: Options.Username: must not contain control characters")
	}
	from, err := mail.ParseAddress(opts.From)
	if err != nil || hasCtl(opts.From) {
		return nil, fmt.Errorf("email: Options.From: must be an address such as Kairos <news@example.com> (got %q)", opts.From)
	}
	at := strings.LastIndexByte(from.Address, '@')
	domain := from.Address[at+1:]
	if at <= 0 || !isDotAtom(domain) {
		return nil, fmt.Errorf("email: Options.From: the domain of %q must be a host name, such as example.com", from.Address)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("email: Options.Timeout: must not be negative (got %s)", opts.Timeout)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	localName := opts.LocalName
	if localName == "" {
		localName = "localhost"
	}
	if strings.ContainsFunc(localName, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return nil, fmt.Errorf("email: Options.LocalName: must be a host name without spaces or control characters (got %q)", opts.LocalName)
	}
	tc := &tls.Config{}
	if opts.TLSConfig != nil {
		tc = opts.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	return &Transport{
		addr:      opts.Addr,
		host:      host,
		username:  opts.Username,
		password:  opts.Password,
		from:      from,
		domain:    domain,
		plaintext: opts.AllowPlaintext,
		tls:       tc,
		timeout:   timeout,
		localName: localName,
		now:       time.Now,
	}, nil
}

// Send delivers m to m.To in one SMTP conversation and returns the queue
// id the server reported for it.
//
// A message that cannot be sent as it is fails before any connection is
// made: with a Permanent *channels.Error when m.To is not a bare address,
// with an Invalid one for the rest (a control character in a header
// value, no body). A 5xx reply to RCPT is Permanent (the recipient), to
// MAIL or DATA Invalid (the sender or the content), a 4xx reply Transient, both with the reply
// code as Code; network errors and timeouts are Transient. Replies to the
// greeting, EHLO, STARTTLS and AUTH (535: bad credentials) are problems
// of the server or of this Transport's configuration, not of the
// recipient: they are Transient, with the reply code, and so are
// authentication replies (530, 534, 535, 538) at any step. A server that does
// not offer STARTTLS when it is required, a certificate that does not
// verify, or a server without AUTH when credentials are set give an
// unclassified error (which channels.ErrorKind takes as Transient).
func (t *Transport) Send(ctx context.Context, m *channels.Message) (channels.Receipt, error) {
	msg, err := t.build(m)
	if err != nil {
		return channels.Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()

	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return channels.Receipt{}, t.classify(ctx, "dial", err)
	}
	// The conversation ends at ctx's deadline, or when ctx is cancelled.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, t.host)
	if err != nil {
		_ = conn.Close()
		return channels.Receipt{}, t.classify(ctx, "greeting", err)
	}
	id, err := t.converse(c, m.To, msg)
	if err != nil {
		var tp *textproto.Error
		if errors.As(err, &tp) && ctx.Err() == nil {
			_ = c.Quit() // the connection is sound: end it politely
		}
		_ = c.Close()
		return channels.Receipt{}, t.classify(ctx, "", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	_ = c.Close()
	return channels.Receipt{ProviderID: id}, nil
}

// stepError names the SMTP step an error happened in.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// converse runs the conversation after the greeting and returns the queue
// id from the reply to DATA.
func (t *Transport) converse(c *smtp.Client, to string, msg []byte) (string, error) {
	if err := c.Hello(t.localName); err != nil {
		return "", &stepError{"EHLO", err}
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(t.tls); err != nil {
			return "", &stepError{"STARTTLS", err}
		}
	} else if !t.plaintext {
		return "", &stepError{"STARTTLS", fmt.Errorf("server %s does not offer STARTTLS, which Options.AllowPlaintext=false requires; refusing to send in clear text", t.addr)}
	}
	if t.username != "" {
		if err := c.Auth(smtp.PlainAuth("", t.username, t.password, t.host)); err != nil {
			return "", &stepError{"AUTH", err}
		}
	}
	if err := c.Mail(t.from.Address); err != nil {
		return "", &stepError{"MAIL", err}
	}
	if err := c.Rcpt(to); err != nil {
		return "", &stepError{"RCPT", err}
	}
	// DATA by hand: net/smtp's Data drops the text of the final reply,
	// which holds the queue id.
	reply, err := data(c.Text, msg)
	if err != nil {
		return "", &stepError{"DATA", err}
	}
	return queueID(reply), nil
}

// data sends msg with DATA and returns the text of the server's 250 reply.
func data(tc *textproto.Conn, msg []byte) (string, error) {
	id, err := tc.Cmd("DATA")
	if err != nil {
		return "", err
	}
	tc.StartResponse(id)
	_, _, err = tc.ReadResponse(354)
	tc.EndResponse(id)
	if err != nil {
		return "", err
	}
	w := tc.DotWriter()
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return "", err
	}
	// From the final "." on, a lost answer is ambiguous: the server may
	// have queued the message.
	if err := w.Close(); err != nil {
		return "", &afterDot{err}
	}
	_, reply, err := tc.ReadResponse(250)
	var tp *textproto.Error
	if err != nil && !errors.As(err, &tp) {
		return "", &afterDot{err}
	}
	return reply, err
}

// afterDot marks a failure after the message's final "." was (perhaps)
// sent, other than a reply from the server.
type afterDot struct{ err error }

func (e *afterDot) Error() string { return e.err.Error() }
func (e *afterDot) Unwrap() error { return e.err }

// authCodes are replies about this Transport's authentication (RFC
// 4954): never the recipient's fault, so never Permanent.
var authCodes = map[int]bool{
	530: true, // authentication required
	534: true, // authentication mechanism is too weak
	535: true, // authentication credentials invalid
	538: true, // encryption required for the authentication mechanism
}

// classify turns an error of Send into a channels.Error, or leaves it
// unclassified when it is a configuration problem.
func (t *Transport) classify(ctx context.Context, step string, err error) error {
	var se *stepError
	if errors.As(err, &se) {
		step, err = se.step, se.err
	}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		kind := channels.Transient
		switch {
		case authCodes[tp.Code]:
			// This Transport's credentials or TLS, whatever the step.
		case step == "RCPT" && tp.Code >= 500 && tp.Code < 600:
			kind = channels.Permanent // the recipient: unknown user, mailbox gone
		case (step == "MAIL" || step == "DATA") && tp.Code >= 500 && tp.Code < 600:
			kind = channels.Invalid // the sender or the content, not the recipient
		}
		return &channels.Error{Kind: kind, Code: strconv.Itoa(tp.Code),
			Err: fmt.Errorf("email: %s %s: %w", step, t.addr, err)}
	}
	var ad *afterDot
	if errors.As(err, &ad) {
		return &channels.Error{Kind: channels.Ambiguous,
			Err: fmt.Errorf("email: %s %s: the answer to the message was lost; the server may have accepted it: %w", step, t.addr, err)}
	}
	cerr := ctx.Err()
	var ne net.Error
	if dl, ok := ctx.Deadline(); ok && cerr == nil && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
		// The connection's deadline (ctx's) fired a moment before ctx
		// noticed.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		if cause := context.Cause(ctx); cause != nil {
			cerr = cause
		}
		return &channels.Error{Kind: channels.Transient,
			Err: fmt.Errorf("email: %s %s: %w: %w", step, t.addr, cerr, err)}
	}
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return &channels.Error{Kind: channels.Transient, Err: fmt.Errorf("email: %s %s: %w", step, t.addr, err)}
	}
	return fmt.Errorf("email: %s %s: %w", step, t.addr, err)
}
