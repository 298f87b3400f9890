// Package netnstest runs a test inside a fresh network namespace of its own (`unshare -rn`: a user
// namespace in which the test is root, and a network namespace with only a loopback), so that tests can
// drive the real nft, ipset and iptables without touching the host. The test binary runs itself again
// under unshare for the one test; the namespace lives as long as that process.
//
// Cost: one process start (tens of milliseconds) per test that uses it.
package netnstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envInside marks the process that runs inside the namespace.
const envInside = "THREATSTOP_SYNC_IN_NETNS"

// Inside reports whether this process runs in the namespace that Enter made.
func Inside() bool { return os.Getenv(envInside) == "1" }

// Enter makes the calling test run inside a namespace. In the outer process it runs the test binary again
// under `unshare -rn` for this test alone, reports its output and result, and returns false: the caller
// returns at once. In the inner process it brings the loopback up and returns true: the caller goes on.
// Without unshare (or where user namespaces are off) the test is skipped, saying so. A test that skips
// inside the namespace is skipped outside with the inner output as the reason, or fails where CI=true.
func Enter(t *testing.T) bool {
	t.Helper()
	if Inside() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set lo up: %v: %s", err, out)
		}
		return true
	}
	if out, err := exec.Command("unshare", "-rn", "true").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot make a network namespace with `unshare -rn` (%v: %s); nft, ipset and iptables need one", err, out)
	}
	cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	// nft, ipset and iptables live in /usr/sbin, which a user's PATH may lack.
	cmd.Env = append(os.Environ(), envInside+"=1", "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("inside the namespace: %v\n%s", err, out)
	}
	switch {
	case strings.Contains(string(out), "--- PASS: "+t.Name()+" ("):
	case strings.Contains(string(out), "--- SKIP: "+t.Name()+" ("):
		// A skip inside is a skip outside (or, in CI, a failure), never a pass.
		if os.Getenv("CI") == "true" {
			t.Fatalf("inside the namespace, %s skipped (a failure where CI=true):\n%s", t.Name(), out)
		}
		t.Skipf("skipped inside the namespace:\n%s", out)
	default:
		t.Fatalf("inside the namespace, %s did not run:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("inside the namespace:\n%s", out)
	}
	return false
}
