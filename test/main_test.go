// Package test holds the end-to-end tests: they start the real threatstop binary as a subprocess with a
// Corefile written into a temporary directory, query it over UDP and TCP with github.com/miekg/dns and
// with dig, rewrite its feed files on disk, and read its ready and prometheus endpoints.
//
// The binary is $THREATSTOP_BIN when set (make test sets it to bin/threatstop); otherwise TestMain builds
// ./cmd/threatstop once into a temporary directory and every test shares that build.
package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// binary is the threatstop executable under test.
var binary string

// repoRoot is the module root, the parent of this package's directory.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = filepath.Dir(wd)

	if bin := os.Getenv("THREATSTOP_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: THREATSTOP_BIN:", err)
			return 1
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			fmt.Fprintf(os.Stderr, "e2e: THREATSTOP_BIN=%s is not an executable file (%v); run `make build` first\n", bin, err)
			return 1
		}
		binary = abs
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "threatstop-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "threatstop")
	cmd := exec.Command(goTool(), "build", "-o", binary, "./cmd/threatstop")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/threatstop: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goTool is the go command of the toolchain running the tests, falling back to the one in PATH.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
