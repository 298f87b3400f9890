//go:build linux

package test

import (
	"os/exec"
	"syscall"
)

// orphanGuard makes the kernel kill the server if the test process dies without running its cleanups
// (killed by a timeout, or by SIGPIPE when its output is piped into head), so no server outlives a run.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
