package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
	"kairos/channels/email"
	"kairos/channels/email/emailtest"
	"kairos/internal/testproc"
)

const decisionID = "01jz3k7m9q2rstvwxyz0abcdef"

// transport returns a Transport for srv with its credentials and trust.
func transport(t *testing.T, srv *emailtest.Server, edit func(*email.Options)) *email.Transport {
	t.Helper()
	opts := email.Options{
		Addr:      srv.Addr,
		Username:  srv.Username,
		Password:  srv.Password,
		From:      "Kairós Angebote <news@kairos.example>",
		TLSConfig: srv.TLSConfig(),
		Timeout:   5 * time.Second,
		LocalName: "dispatch.kairos.example",
	}
	if edit != nil {
		edit(&opts)
	}
	tr, err := email.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// crlf is s with its line breaks as quoted-printable text carries them.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func TestSendMultipart(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, nil)

	longLine := strings.Repeat("Grüße aus Köln, ", 20) + "Ende."
	m := &channels.Message{
		ID:       decisionID,
		Campaign: "cart_recovery",
		To:       "ana@example.com",
		Subject:  "Ihr Warenkorb wartet – 20 % Rabatt für Sie, nur noch heute und morgen 🎁",
		Text: "Hallo Ana,\n\n" + longLine + "\n" +
			".a line that starts with a dot\n" +
			"trailing spaces   \n" +
			"an = sign and =?not-encoded?=\n" +
			"Ihr Kairós-Team",
		HTML:           "<p>Hallo Ana,</p>\n<p>" + longLine + "</p>\n<p>Ihr <b>Kairós</b>-Team</p>\n",
		UnsubscribeURL: "https://kairos.example/unsubscribe?t=abc.def&c=email",
	}
	start := time.Now()
	rcpt, err := tr.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v\nserver log:\n%s", err, srv.Log())
	}

	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	r := got[0]
	if rcpt.ProviderID != r.QueueID || r.QueueID == "" {
		t.Errorf("ProviderID = %q, want the server's queue id %q", rcpt.ProviderID, r.QueueID)
	}
	if r.MailFrom != "news@kairos.example" || !cmp.Equal(r.RcptTos, []string{"ana@example.com"}) {
		t.Errorf("envelope: MAIL FROM %q, RCPT TO %q", r.MailFrom, r.RcptTos)
	}
	if !r.TLS {
		t.Error("the session did not use STARTTLS")
	}
	if r.Login != srv.Username {
		t.Errorf("authenticated as %q, want %q", r.Login, srv.Username)
	}

	raw := headerLines(t, r.Data)
	msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Kairós Angebote" || from[0].Address != "news@kairos.example" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if got := h.Get("To"); got != m.To {
		t.Errorf("To = %q, want %q", got, m.To)
	}
	if !strings.Contains(raw["Subject"], "=?utf-8?q?") {
		t.Errorf("Subject is not RFC 2047 encoded: %q", raw["Subject"])
	}
	var dec mime.WordDecoder
	if subj, err := dec.DecodeHeader(raw["Subject"]); err != nil || subj != m.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", subj, err, m.Subject)
	}
	want := map[string]string{
		"Message-ID":            "<" + decisionID + "@kairos.example>",
		"MIME-Version":          "1.0",
		"List-Unsubscribe":      "<" + m.UnsubscribeURL + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"X-Kairos-Decision":     decisionID,
		"X-Kairos-Campaign":     "cart_recovery",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if d, err := h.Date(); err != nil || d.Before(start.Add(-time.Second).Truncate(time.Second)) || d.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %q (%v), want now", h.Get("Date"), err)
	}
	for line := range strings.SplitSeq(string(r.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d characters: %.60q…", len(line), line)
		}
	}

	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v)", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i, wantPart := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", crlf(m.Text)},
		{"text/html; charset=utf-8", crlf(m.HTML)},
	} {
		p, err := mr.NextRawPart() // raw: NextPart would decode quoted-printable itself
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if got := p.Header.Get("Content-Type"); got != wantPart.ctype {
			t.Errorf("part %d: Content-Type %q, want %q", i, got, wantPart.ctype)
		}
		if got := p.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
			t.Errorf("part %d: Content-Transfer-Encoding %q", i, got)
		}
		enc, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(enc), "\r\n") {
			if len(line) > 76 {
				t.Errorf("part %d: quoted-printable line of %d characters", i, len(line))
			}
		}
		body, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantPart.body, string(body)); diff != "" {
			t.Errorf("part %d body (-want +got):\n%s", i, diff)
		}
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Errorf("after two parts: %v, want io.EOF", err)
	}
}

// headerLines returns the header fields of a raw message, unfolded as RFC
// 5322 says (a CRLF before white space is removed, nothing else).
func headerLines(t *testing.T, data []byte) map[string]string {
	t.Helper()
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %q", data)
	}
	unfolded := strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t").Replace(string(head))
	out := map[string]string{}
	for line := range strings.SplitSeq(unfolded, "\r\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("header line %q", line)
		}
		if _, dup := out[k]; dup {
			t.Errorf("header %s twice", k)
		}
		out[k] = v
	}
	return out
}

func TestSendTextOnly(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, nil)
	m := &channels.Message{ID: decisionID, To: "bo@example.com", Subject: "Plain subject", Text: "Hej Bo,\nvi ses. Ünïcödé"}
	if _, err := tr.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	raw := headerLines(t, got[0].Data)
	for _, k := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "X-Kairos-Campaign"} {
		if v, ok := raw[k]; ok {
			t.Errorf("%s: %q, want no such header", k, v)
		}
	}
	if raw["Subject"] != "Plain subject" {
		t.Errorf("Subject = %q", raw["Subject"])
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("Content-Transfer-Encoding = %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	// DATA ends the last line with CRLF.
	if diff := cmp.Diff(crlf(m.Text)+"\r\n", string(body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestSendRetryKeepsMessageID: a retry of a decision carries the same
// Message-ID, so receiving systems can drop the duplicate.
func TestSendRetryKeepsMessageID(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, nil)
	m := &channels.Message{ID: decisionID, To: "ana@example.com", Subject: "s", Text: "t"}
	for range 2 {
		if _, err := tr.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Messages()
	if len(got) != 2 {
		t.Fatalf("server received %d messages, want 2", len(got))
	}
	id := func(r emailtest.Received) string {
		msg, err := mail.ReadMessage(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		return msg.Header.Get("Message-ID")
	}
	if a, b := id(got[0]), id(got[1]); a != b || a != "<"+decisionID+"@kairos.example>" {
		t.Errorf("Message-IDs %q and %q, want both <%s@kairos.example>", a, b, decisionID)
	}
	if got[0].QueueID == got[1].QueueID {
		t.Errorf("both sends got queue id %q", got[0].QueueID)
	}
}

func TestSendConcurrent(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, nil)
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			m := &channels.Message{ID: fmt.Sprintf("decision%d", i), To: fmt.Sprintf("c%d@example.com", i), Subject: "s", Text: "t", HTML: "<p>t</p>"}
			var r channels.Receipt
			r, errs[i] = tr.Send(t.Context(), m)
			ids[i] = r.ProviderID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("send %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Errorf("queue id %q twice", ids[i])
		}
		seen[ids[i]] = true
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("server received %d messages, want %d", got, n)
	}
}

// TestSendErrors provokes SMTP error replies from the real server.
func TestSendErrors(t *testing.T) {
	srv := emailtest.Start(t)
	for _, tc := range []struct {
		name     string
		to       string
		password string
		kind     channels.Kind
		code     string
	}{
		{"RCPT 550 mailbox unavailable", "reply-550@example.com", "", channels.Permanent, "550"},
		{"RCPT 553 mailbox name not allowed", "reply-553@example.com", "", channels.Permanent, "553"},
		{"RCPT 450 mailbox busy", "reply-450@example.com", "", channels.Transient, "450"},
		{"RCPT 451 local error", "reply-451@example.com", "", channels.Transient, "451"},
		{"RCPT 452 insufficient storage", "reply-452@example.com", "", channels.Transient, "452"},
		{"RCPT 421 shutting down", "reply-421@example.com", "", channels.Transient, "421"},
		{"DATA 554 rejected", "data-554@example.com", "", channels.Invalid, "554"},
		{"DATA 451 local error", "data-451@example.com", "", channels.Transient, "451"},
		// Bad credentials are this Transport's problem, not the
		// recipient's: not Permanent, which would mark the customer's
		// address dead.
		{"AUTH 535 wrong password", "ana@example.com", "wrong-pass-123", channels.Transient, "535"},
		{"MAIL 530 without credentials", "ana@example.com", "-", channels.Transient, "530"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := transport(t, srv, func(o *email.Options) {
				switch tc.password {
				case "":
				case "-":
					o.Username, o.Password = "", ""
				default:
					o.Password = tc.password
				}
			})
			_, err := tr.Send(t.Context(), &channels.Message{ID: decisionID, To: tc.to, Subject: "s", Text: "t"})
			var ce *channels.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send: %v, want a *channels.Error", err)
			}
			if ce.Kind != tc.kind || ce.Code != tc.code {
				t.Errorf("Send: %v (kind %v, code %q), want kind %v, code %q", err, ce.Kind, ce.Code, tc.kind, tc.code)
			}
			for _, secret := range []string{srv.Password, tc.password} {
				if len(secret) > 1 && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a password", err)
				}
			}
		})
	}
	if got := srv.Messages(); len(got) != 0 {
		t.Errorf("server accepted %d messages, want none", len(got))
	}
}

func TestSendRequiresStartTLS(t *testing.T) {
	srv := emailtest.StartPlain(t)
	m := &channels.Message{ID: decisionID, To: "ana@example.com", Subject: "s", Text: "t"}

	tr := transport(t, srv, nil)
	_, err := tr.Send(t.Context(), m)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Send to a server without STARTTLS: %v, want a refusal naming STARTTLS", err)
	}
	var ce *channels.Error
	if errors.As(err, &ce) {
		t.Errorf("Send: %v is a classified %v error; a configuration problem is not the recipient's", err, ce.Kind)
	}
	if got := srv.Messages(); len(got) != 0 {
		t.Fatalf("server received %d messages in clear text, want none", len(got))
	}

	tr = transport(t, srv, func(o *email.Options) { o.AllowPlaintext = true })
	if _, err := tr.Send(t.Context(), m); err != nil {
		t.Fatalf("Send with AllowPlaintext: %v", err)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].TLS {
		t.Fatalf("received %+v, want one message without TLS", got)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, func(o *email.Options) { o.TLSConfig = nil }) // system roots
	_, err := tr.Send(t.Context(), &channels.Message{ID: decisionID, To: "ana@example.com", Text: "t"})
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Fatalf("Send: %v, want a certificate verification error", err)
	}
	if got := srv.Messages(); len(got) != 0 {
		t.Errorf("server received %d messages, want none", len(got))
	}
}

func TestSendServerDown(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, nil)
	srv.Stop()
	port, err := testproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nobody := transport(t, srv, func(o *email.Options) { o.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) })
	for name, tr := range map[string]*email.Transport{"stopped": tr, "never started": nobody} {
		_, err := tr.Send(t.Context(), &channels.Message{ID: decisionID, To: "ana@example.com", Text: "t"})
		var ce *channels.Error
		if !errors.As(err, &ce) || ce.Kind != channels.Transient {
			t.Errorf("%s: Send: %v, want a Transient *channels.Error", name, err)
		}
	}
}

// TestSendDeadline: a server that stalls mid-conversation (RCPT answered
// after 5s) cannot hold Send past its context's deadline, its cancellation
// or Options.Timeout.
func TestSendDeadline(t *testing.T) {
	srv := emailtest.Start(t)
	m := &channels.Message{ID: decisionID, To: "delay-5000@example.com", Text: "t"}
	for _, tc := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
		want    error
	}{
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 300*time.Millisecond)
		}, 0, context.DeadlineExceeded},
		{"context cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, 0, context.Canceled},
		{"Options.Timeout", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(t.Context())
		}, 300 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := transport(t, srv, func(o *email.Options) {
				if tc.timeout > 0 {
					o.Timeout = tc.timeout
				}
			})
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			_, err := tr.Send(ctx, m)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Send took %s, want about 300ms", took)
			}
			if channels.ErrorKind(err) != channels.Transient || !errors.Is(err, tc.want) {
				t.Errorf("Send: %v, want a Transient error wrapping %v", err, tc.want)
			}
		})
	}
	if got := srv.Messages(); len(got) != 0 {
		t.Errorf("server received %d messages, want none", len(got))
	}
}

// TestSendRefusesBadMessages: a message that cannot be sent as it is
// fails Permanent, naming the field, before any connection is made.
func TestSendRefusesBadMessages(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := 0
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	tr, err := email.New(email.Options{Addr: l.Addr().String(), From: "news@kairos.example"})
	if err != nil {
		t.Fatal(err)
	}
	good := channels.Message{ID: decisionID, To: "ana@example.com", Subject: "s", Campaign: "c", Text: "t", HTML: "<p>h</p>", UnsubscribeURL: "https://kairos.example/u"}
	for _, tc := range []struct {
		name, field string
		edit        func(*channels.Message)
	}{
		{"To with display name", "Message.To", func(m *channels.Message) { m.To = "Ana <ana@example.com>" }},
		{"To in angle brackets", "Message.To", func(m *channels.Message) { m.To = "<ana@example.com>" }},
		{"To injects a header", "Message.To", func(m *channels.Message) { m.To = "ana@example.com\r\nBcc: eve@example.com" }},
		{"To two addresses", "Message.To", func(m *channels.Message) { m.To = "ana@example.com, eve@example.com" }},
		{"To no address", "Message.To", func(m *channels.Message) { m.To = "ana" }},
		{"To empty", "Message.To", func(m *channels.Message) { m.To = "" }},
		{"ID empty", "Message.ID", func(m *channels.Message) { m.ID = "" }},
		{"ID injects a header", "Message.ID", func(m *channels.Message) { m.ID = "abc\r\nBcc: eve@example.com" }},
		{"ID breaks the Message-ID", "Message.ID", func(m *channels.Message) { m.ID = "a>b" }},
		{"Subject injects a header", "Message.Subject", func(m *channels.Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }},
		{"Subject with LF", "Message.Subject", func(m *channels.Message) { m.Subject = "Hi\nthere" }},
		{"Subject with CR", "Message.Subject", func(m *channels.Message) { m.Subject = "Hi\rthere" }},
		{"Subject invalid UTF-8", "Message.Subject", func(m *channels.Message) { m.Subject = "Hi \xff" }},
		{"Campaign injects a header", "Message.Campaign", func(m *channels.Message) { m.Campaign = "c\nBcc: eve@example.com" }},
		{"UnsubscribeURL injects a header", "Message.UnsubscribeURL", func(m *channels.Message) { m.UnsubscribeURL = "https://k.example/u\r\nBcc: eve@example.com" }},
		{"UnsubscribeURL closes the bracket", "Message.UnsubscribeURL", func(m *channels.Message) { m.UnsubscribeURL = "https://k.example/u>, <mailto:eve@example.com" }},
		{"UnsubscribeURL not http", "Message.UnsubscribeURL", func(m *channels.Message) { m.UnsubscribeURL = "javascript:alert(1)" }},
		{"UnsubscribeURL relative", "Message.UnsubscribeURL", func(m *channels.Message) { m.UnsubscribeURL = "/u/abc" }},
		{"no body", "Message.Text, Message.HTML", func(m *channels.Message) { m.Text, m.HTML = "", "" }},
		{"Text invalid UTF-8", "Message.Text", func(m *channels.Message) { m.Text = "\xc3" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good
			tc.edit(&m)
			_, err := tr.Send(t.Context(), &m)
			// A bad address makes the channel unreachable; any other
			// fault is the message's.
			want := channels.Invalid
			if tc.field == "Message.To" {
				want = channels.Permanent
			}
			var ce *channels.Error
			if !errors.As(err, &ce) || ce.Kind != want || ce.Code != "" {
				t.Fatalf("Send: %v, want a %s *channels.Error without code", err, want)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Errorf("Send: %q does not name %s", err, tc.field)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 0 {
		t.Errorf("%d connections to the server, want none", conns)
	}
}

func TestNew(t *testing.T) {
	valid := email.Options{Addr: "smtp.example.com:587", From: "Kairos <news@example.com>", Username: "u", Password: "hunter2-secret"}
	if _, err := email.New(valid); err != nil {
		t.Fatalf("New(%+v): %v", valid, err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(*email.Options)
	}{
		{"Addr empty", "Options.Addr: must be host:port", func(o *email.Options) { o.Addr = "" }},
		{"Addr without port", "Options.Addr: must be host:port", func(o *email.Options) { o.Addr = "smtp.example.com" }},
		{"Addr without host", "Options.Addr: must be host:port", func(o *email.Options) { o.Addr = ":25" }},
		{"Addr port 0", "Options.Addr: must be host:port", func(o *email.Options) { o.Addr = "smtp.example.com:0" }},
		{"Addr port name", "Options.Addr: must be host:port", func(o *email.Options) { o.Addr = "smtp.example.com:smtp" }},
		{"From empty", "Options.From: must be an address such as Kairos <news@example.com>", func(o *email.Options) { o.From = "" }},
		{"From without domain", "Options.From: must be an address", func(o *email.Options) { o.From = "news" }},
		{"From injects a header", "Options.From: must be an address", func(o *email.Options) { o.From = "news@example.com\r\nBcc: eve@example.com" }},
		{"From domain literal", "Options.From: the domain", func(o *email.Options) { o.From = "news@[127.0.0.1]" }},
		{"Username without Password", "Options.Username, Options.Password: must be set together", func(o *email.Options) { o.Password = "" }},
		{"Password without Username", "Options.Username, Options.Password: must be set together", func(o *email.Options) { o.Username = "" }},
		{"Timeout negative", "Options.Timeout: must not be negative", func(o *email.Options) { o.Timeout = -time.Second }},
		{"LocalName with space", "Options.LocalName: must be a host name", func(o *email.Options) { o.LocalName = "a b" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.edit(&o)
			_, err := email.New(o)
			if err == nil || !strings.HasPrefix(err.Error(), "email: "+tc.want) {
				t.Fatalf("New: %v, want an error starting %q", err, "email: "+tc.want)
			}
			if strings.Contains(err.Error(), valid.Password) {
				t.Errorf("New: %q contains the password", err)
			}
		})
	}
}

// TestSendAmbiguous: a reply lost after the final "." (the server queued
// the message and answered too late) is Ambiguous, not Transient: a retry
// could deliver it twice. A timeout before that point is Transient.
func TestSendAmbiguous(t *testing.T) {
	srv := emailtest.Start(t)
	tr := transport(t, srv, func(o *email.Options) { o.Timeout = 500 * time.Millisecond })
	_, err := tr.Send(t.Context(), &channels.Message{ID: decisionID, To: "late-2000@example.com", Subject: "s", Text: "t"})
	if channels.ErrorKind(err) != channels.Ambiguous {
		t.Errorf("Send with the reply to DATA lost: %v (kind %v), want ambiguous", err, channels.ErrorKind(err))
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("server accepted %d messages, want 1 (the ambiguous one)", got)
	}
	_, err = tr.Send(t.Context(), &channels.Message{ID: decisionID, To: "delay-2000@example.com", Subject: "s", Text: "t"})
	if channels.ErrorKind(err) != channels.Transient {
		t.Errorf("Send timing out at RCPT: %v (kind %v), want transient", err, channels.ErrorKind(err))
	}
}
