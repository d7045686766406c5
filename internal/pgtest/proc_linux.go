package pgtest

import "syscall"

// sysProcAttr runs a server binary as cred (nil: the current user). The
// server gets SIGQUIT (an immediate shutdown) if the test binary dies
// without stopping it, so that no server outlives an aborted test run.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
