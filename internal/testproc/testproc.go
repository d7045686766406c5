// Package testproc holds what the test helpers that run real servers
// (internal/redistest, internal/pgtest) share: picking a free port and
// showing the end of a server's log in failures. It is imported only by
// test helpers.
package testproc

import (
	"fmt"
	"net"
	"os"
)

// FreePort asks the kernel for a free loopback port. Another process may
// take it before the server binds it; callers retry the start then.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// LogTail returns the last 4 KiB of the log at path written after offset,
// for error messages.
func LogTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if offset > 0 && offset <= int64(len(b)) {
		b = b[offset:]
	}
	const tail = 4096
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}
