package push

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"kairos/channels"
)

// FuzzClassify feeds arbitrary FCM answers to the error classifier: it must
// not panic, and only an answer naming a permanent FCM error code may be
// Permanent.
func FuzzClassify(f *testing.F) {
	f.Add(404, `{"error":{"code":404,"message":"x","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`, "")
	f.Add(400, `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`, "")
	f.Add(429, `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`, "Wed, 21 Oct 2026 07:28:00 GMT")
	f.Add(503, "<html>", "12")
	f.Add(401, "", "")
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
			if ce.Kind == channels.Permanent && !strings.Contains(body, ce.Code) {
				t.Errorf("permanent %q from a body without it: %s", ce.Code, body)
			}
		}
	})
}
