package sms

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"kairos/channels"
)

// FuzzClassify feeds arbitrary Twilio answers to the error classifier: it
// must not panic, and only an answer naming a permanent Twilio error code
// may be Permanent.
func FuzzClassify(f *testing.F) {
	f.Add(400, `{"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`, "")
	f.Add(429, `{"code": 20429, "message": "Too Many Requests", "status": 429}`, "Wed, 21 Oct 2026 07:28:00 GMT")
	f.Add(503, "<html>", "12")
	f.Add(401, `{"code": 20003}`, "")
	tr := &Transport{now: func() time.Time { return time.Unix(0, 0) }}
	f.Fuzz(func(t *testing.T, status int, body, retry string) {
		if status < 300 || status > 599 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retry}}}
		err := tr.classify("d", resp, []byte(body))
		if err == nil {
			t.Fatal("nil error")
		}
		var ce *channels.Error
		if errors.As(err, &ce) {
			if ce.RetryAfter < 0 {
				t.Errorf("negative RetryAfter %v", ce.RetryAfter)
			}
			if n, _ := strconv.Atoi(ce.Code); ce.Kind == channels.Permanent && (!permanent[n] || !strings.Contains(body, ce.Code)) {
				t.Errorf("permanent %q from %s", ce.Code, body)
			}
		}
	})
}
