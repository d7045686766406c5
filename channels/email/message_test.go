package email

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kairos/channels"
)

func TestQueueID(t *testing.T) {
	for _, tc := range []struct{ reply, want string }{
		{"Ok: queued as ABC123", "ABC123"},                   // Postfix
		{"2.0.0 Ok: queued as 4Xk9Q51pTmz2", "4Xk9Q51pTmz2"}, // Postfix with enhanced codes
		{"OK id=1t2Abc-000Xyz-9Q", "1t2Abc-000Xyz-9Q"},       // Exim
		{"OK", "OK"}, // aiosmtpd's default handler
		{"2.0.0 Message accepted for delivery", "2.0.0 Message accepted for delivery"},
		{"Ok\nqueued as Q1", "Q1"}, // multi-line reply
		{"  spaced   out \n text ", "spaced out text"},
	} {
		if got := queueID(tc.reply); got != tc.want {
			t.Errorf("queueID(%q) = %q, want %q", tc.reply, got, tc.want)
		}
	}
}

func TestEncodeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Plain subject", "Plain subject"},
		{"Grüße", "=?utf-8?q?Gr=C3=BC=C3=9Fe?="},
		// ASCII that a reader would decode, or a word too long to fold:
		{"=?utf-8?q?x?=", "=?utf-8?b?PT91dGYtOD9xP3g/PQ==?="},
		{strings.Repeat("a", 76), "=?utf-8?b?" + "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh" + "?= =?utf-8?b?" + "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYQ==" + "?="},
	} {
		if got := encodeText(tc.in); got != tc.want {
			t.Errorf("encodeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("word ", 40))
	got := fold(len("Subject: "), long)
	if strings.ReplaceAll(got, "\r\n", "") != long {
		t.Errorf("fold changed the value: %q", got)
	}
	for i, line := range strings.Split("Subject: "+got, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d has %d characters: %q", i, len(line), line)
		}
		if i > 0 && !strings.HasPrefix(line, " ") {
			t.Errorf("continuation line %d does not start with a space: %q", i, line)
		}
	}
	if got := fold(9, "short one"); got != "short one" {
		t.Errorf("fold(short) = %q", got)
	}
}

func testTransport(t testing.TB) *Transport {
	t.Helper()
	tr, err := New(Options{Addr: "smtp.example.com:587", From: "Kairós <news@kairos.example>"})
	if err != nil {
		t.Fatal(err)
	}
	tr.now = func() time.Time { return time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC) }
	return tr
}

// FuzzBuild: whatever the message, build either refuses it (Permanent)
// or produces a message that parses back to exactly the header fields it
// should have, with the same subject, campaign and bodies. No input adds
// a header field.
func FuzzBuild(f *testing.F) {
	f.Add("Hi", "cart", "Hello\nworld", "<p>Hello</p>")
	f.Add("Grüße – 20 % 🎁", "größe", strings.Repeat("Köln ", 100), "")
	f.Add("Hi\r\nBcc: eve@example.com", "c", "t", "")
	f.Add("=?utf-8?q?x?= and   spaces\t", "", "", "<p>only html</p>")
	f.Add(strings.Repeat("x", 200)+" "+strings.Repeat("y ", 80), "c", ".\r\n.\n\r.", "a\rb")
	tr := testTransport(f)
	f.Fuzz(func(t *testing.T, subject, campaign, text, html string) {
		m := &channels.Message{ID: "01jz3k7m9q2rstvwxyz0abcdef", To: "ana@example.com", Subject: subject,
			Campaign: campaign, Text: text, HTML: html, UnsubscribeURL: "https://kairos.example/u?t=1"}
		data, err := tr.build(m)
		if err != nil {
			var ce *channels.Error
			if !errors.As(err, &ce) || ce.Kind != channels.Invalid {
				t.Fatalf("build: %v, want an Invalid error (the message, not the address)", err)
			}
			return
		}
		for line := range strings.SplitSeq(string(data), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("line of %d characters", len(line))
			}
		}
		head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
		unfolded := strings.NewReplacer("\r\n ", " ", "\r\n\t", "\t").Replace(string(head))
		fields := map[string]string{}
		for line := range strings.SplitSeq(unfolded, "\r\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("header line %q", line)
			}
			if _, dup := fields[k]; dup {
				t.Fatalf("header %s twice", k)
			}
			fields[k] = v
		}
		want := []string{"Content-Type", "Date", "From", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Message-ID", "To", "X-Kairos-Decision"}
		if subject != "" {
			want = append(want, "Subject")
		}
		if campaign != "" {
			want = append(want, "X-Kairos-Campaign")
		}
		if text == "" || html == "" {
			want = append(want, "Content-Transfer-Encoding")
		}
		var got []string
		for k := range fields {
			got = append(got, k)
		}
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("header fields (-want +got):\n%s", diff)
		}
		var dec mime.WordDecoder
		for k, v := range map[string]string{"Subject": subject, "X-Kairos-Campaign": campaign} {
			if v == "" {
				continue
			}
			if got, err := dec.DecodeHeader(fields[k]); err != nil || got != v {
				t.Fatalf("%s decodes to %q (%v), want %q", k, got, err, v)
			}
		}

		msg, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		canon := func(s string) string {
			return strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n").Replace(s)
		}
		bodies := map[string]string{}
		mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		if mt == "multipart/alternative" {
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(quotedprintable.NewReader(p))
				if err != nil {
					t.Fatal(err)
				}
				bodies[p.Header.Get("Content-Type")] = string(b)
			}
		} else {
			b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				t.Fatal(err)
			}
			bodies[msg.Header.Get("Content-Type")] = string(b)
		}
		wantBodies := map[string]string{}
		if text != "" {
			wantBodies["text/plain; charset=utf-8"] = canon(text)
		}
		if html != "" {
			wantBodies["text/html; charset=utf-8"] = canon(html)
		}
		if diff := cmp.Diff(wantBodies, bodies); diff != "" {
			t.Fatalf("bodies (-want +got):\n%s", diff)
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	tr := testTransport(b)
	m := &channels.Message{ID: "01jz3k7m9q2rstvwxyz0abcdef", To: "ana@example.com", Campaign: "cart_recovery",
		Subject: "Ihr Warenkorb wartet – 20 % Rabatt", Text: strings.Repeat("Grüße aus Köln. ", 60),
		HTML: "<p>" + strings.Repeat("Grüße aus Köln. ", 60) + "</p>", UnsubscribeURL: "https://kairos.example/u?t=1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.build(m); err != nil {
			b.Fatal(err)
		}
	}
}
