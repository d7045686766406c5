package channels

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorKind(t *testing.T) {
	perm := fmt.Errorf("push: send: %w", &Error{Kind: Permanent, Code: "UNREGISTERED", Err: errors.New("token gone")})
	if ErrorKind(perm) != Permanent || RetryAfter(perm) != 0 {
		t.Errorf("wrapped permanent: %v, %v", ErrorKind(perm), RetryAfter(perm))
	}
	slow := &Error{Kind: Transient, Code: "429", RetryAfter: 3 * time.Second}
	if ErrorKind(slow) != Transient || RetryAfter(slow) != 3*time.Second {
		t.Errorf("429: %v, %v", ErrorKind(slow), RetryAfter(slow))
	}
	if ErrorKind(context.DeadlineExceeded) != Transient {
		t.Error("an unclassified error is not transient")
	}
	if got := perm.Error(); got != "push: send: permanent delivery error UNREGISTERED: token gone" {
		t.Errorf("message %q", got)
	}
}
