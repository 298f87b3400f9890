//go:build !linux

package test

import "os/exec"

// orphanGuard is a no-op where the kernel has no parent-death signal; the cleanups still stop servers.
func orphanGuard(*exec.Cmd) {}
