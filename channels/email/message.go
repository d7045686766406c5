package email

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"kairos/channels"
)

// Limits that keep every header line under SMTP's 998 characters.
const (
	maxIDLen  = 200
	maxURLLen = 900
)

// invalid returns the Invalid error of a message that cannot be sent as
// it is.
func invalid(format string, args ...any) error {
	return &channels.Error{Kind: channels.Invalid, Err: fmt.Errorf("email: "+format, args...)}
}

// build validates m and returns it as an RFC 5322 message with CRLF line
// endings.
func (t *Transport) build(m *channels.Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("email: nil message")
	}
	if hasCtl(m.To) || !bareAddress(m.To) {
		// The address itself: the channel is unreachable.
		return nil, &channels.Error{Kind: channels.Permanent,
			Err: fmt.Errorf("email: Message.To: must be a bare address such as ana@example.com (got %q)", m.To)}
	}
	if !isDotAtom(m.ID) || len(m.ID) > maxIDLen {
		return nil, invalid("Message.ID: must be a decision id of at most %d letters, digits, dots or !#$%%&'*+-/=?^_`{|}~ (got %q)", maxIDLen, m.ID)
	}
	for _, f := range []struct{ name, v string }{{"Subject", m.Subject}, {"Campaign", m.Campaign}} {
		if hasCtl(f.v) {
			return nil, invalid("Message.%s: must not contain CR, LF or other control characters (got %q)", f.name, f.v)
		}
		if !utf8.ValidString(f.v) {
			return nil, invalid("Message.%s: must be valid UTF-8", f.name)
		}
	}
	if m.UnsubscribeURL != "" {
		if err := checkURL(m.UnsubscribeURL); err != nil {
			return nil, err
		}
	}
	if m.Text == "" && m.HTML == "" {
		return nil, invalid("Message.Text, Message.HTML: one of them must be set")
	}
	for _, f := range []struct{ name, v string }{{"Text", m.Text}, {"HTML", m.HTML}} {
		if !utf8.ValidString(f.v) {
			return nil, invalid("Message.%s: must be valid UTF-8", f.name)
		}
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("From", t.from.String())
	header("To", m.To)
	if m.Subject != "" {
		header("Subject", fold(len("Subject: "), encodeText(m.Subject)))
	}
	header("Date", t.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.ID+"@"+t.domain+">")
	header("MIME-Version", "1.0")
	if m.UnsubscribeURL != "" {
		header("List-Unsubscribe", "<"+m.UnsubscribeURL+">")
		header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	header("X-Kairos-Decision", m.ID)
	if m.Campaign != "" {
		header("X-Kairos-Campaign", fold(len("X-Kairos-Campaign: "), encodeText(m.Campaign)))
	}

	if m.Text == "" || m.HTML == "" {
		ctype, body := "text/plain; charset=utf-8", m.Text
		if m.Text == "" {
			ctype, body = "text/html; charset=utf-8", m.HTML
		}
		header("Content-Type", ctype)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, body); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, v string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(w, p.v); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// writeQP writes s quoted-printable, its line breaks as CRLF. (A message
// that does not end in a line break gets one from DATA's terminator.)
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

// checkURL accepts an absolute http or https URL that fits between the
// angle brackets of List-Unsubscribe.
func checkURL(s string) error {
	bad := func(rule string) error {
		return invalid("Message.UnsubscribeURL: %s (got %q)", rule, s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '<' || r == '>' }) {
		return bad("must be an ASCII URL without spaces, control characters or angle brackets")
	}
	if len(s) > maxURLLen {
		return bad(fmt.Sprintf("must be at most %d bytes", maxURLLen))
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return bad("must be an absolute https URL")
	}
	return nil
}

// bareAddress reports whether s is an addr-spec alone, such as
// ana@example.com: no display name, no angle brackets, no comments.
func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && strings.Contains(s, "@")
}

// hasCtl reports whether s holds a control character other than tab.
func hasCtl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f })
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text: atext runs
// separated by single dots.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// encodeText returns s as header text: unchanged when it is printable
// ASCII that no reader could take for encoded-words, RFC 2047
// encoded-words otherwise.
func encodeText(s string) string {
	ascii := !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x7f })
	long := false
	for w := range strings.FieldsSeq(s) {
		if len(w) > 75 {
			long = true
		}
	}
	switch {
	case !ascii:
		return mime.QEncoding.Encode("utf-8", s)
	case strings.Contains(s, "=?") || long:
		return encodeB(s)
	}
	return s
}

// encodeB encodes s as base64 encoded-words of at most 75 characters,
// split at rune boundaries. mime.BEncoding leaves plain ASCII alone,
// which encodeText needs encoded.
func encodeB(s string) string {
	const maxRaw = 45 // base64: 60 characters, 72 with =?utf-8?b??=
	var words []string
	for s != "" {
		n := min(len(s), maxRaw)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// fold breaks a header value at spaces so that lines stay within 78
// characters where the words allow it; indent is the length of the
// "Name: " before it. Unfolding (removing each CRLF) gives value back.
func fold(indent int, value string) string {
	const width = 78
	words := strings.Split(value, " ")
	var b strings.Builder
	n := indent
	for i, w := range words {
		if i > 0 {
			if n+1+len(w) > width && w != "" && n > 1 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

var queueIDPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)\bqueued as ([^\s;,]+)`), // Postfix, aiosmtpd-based relays
	regexp.MustCompile(`(?i)\bid=([^\s;,]+)`),        // Exim
}

// queueID returns the queue id in the text of a 250 reply to DATA, or the
// whole text when it names none.
func queueID(reply string) string {
	for _, re := range queueIDPatterns {
		if m := re.FindStringSubmatch(reply); m != nil {
			return m[1]
		}
	}
	return strings.Join(strings.Fields(reply), " ")
}
