package retry

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep with a live context returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep with a cancelled context returned true")
	}
	if time.Since(start) > time.Second {
		t.Error("Sleep did not return when the context ended")
	}
	if Sleep(ctx, 0) {
		t.Error("Sleep(0) with a cancelled context returned true")
	}
}
