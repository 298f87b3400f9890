package netnstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envHelper makes TestInnerSkip the test that skips inside its namespace.
const envHelper = "NETNSTEST_SKIP_HELPER"

// TestInnerSkip runs this test binary again as a test that skips inside the namespace: the outer test
// must report that skip (with the inner reason), or fail where CI=true, and never pass.
func TestInnerSkip(t *testing.T) {
	if os.Getenv(envHelper) == "1" {
		if !Enter(t) {
			return
		}
		t.Skip("the inner reason: no nft in this namespace")
	}
	if out, err := exec.Command("unshare", "-rn", "true").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot make a network namespace with `unshare -rn` (%v: %s)", err, out)
	}
	for _, tc := range []struct{ ci, want string }{{"", "--- SKIP: TestInnerSkip ("}, {"true", "--- FAIL: TestInnerSkip ("}} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestInnerSkip$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envHelper+"=1", "CI="+tc.ci)
		out, _ := cmd.CombinedOutput()
		o := string(out)
		if !strings.Contains(o, tc.want) || !strings.Contains(o, "the inner reason") {
			t.Errorf("CI=%q: the outer test did not report %q with the inner reason:\n%s", tc.ci, tc.want, o)
		}
		// The inner run's own lines are indented in the outer output: only the outer result counts.
		if strings.Contains(o, "\n--- PASS: TestInnerSkip (") {
			t.Errorf("CI=%q: the outer test passed:\n%s", tc.ci, o)
		}
	}
}
