package coretest

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rsyslog is a real rsyslogd receiving syslog over TCP and over TLS (its gtls driver, with a test
// certificate for 127.0.0.1 and localhost), writing what it parsed to a file, one line a message:
// "INPUT host=HOSTNAME app=APP-NAME msgid=MSGID pri=PRI sd=STRUCTURED-DATA msg=MSG".
type Rsyslog struct {
	TCP, TLS string            // host:port of the inputs
	CA       *x509.Certificate // what a client trusts for TLS
	CAFile   string
	out      string
}

// StartRsyslog starts rsyslogd in dir for the test's duration. Under CI (which installs rsyslog and
// rsyslog-gnutls) a missing rsyslogd fails the test, elsewhere it is skipped.
func StartRsyslog(t testing.TB, dir string) *Rsyslog {
	t.Helper()
	bin := ""
	for _, p := range []string{"rsyslogd", "/usr/sbin/rsyslogd"} {
		if path, err := exec.LookPath(p); err == nil {
			bin = path
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("rsyslogd not found: install rsyslog and rsyslog-gnutls (.ci/run does)")
		}
		t.Skip("rsyslogd not found (apt-get install rsyslog rsyslog-gnutls)")
	}
	cert, key := filepath.Join(dir, "rsyslog-cert.pem"), filepath.Join(dir, "rsyslog-key.pem")
	r := &Rsyslog{CA: WriteCert(t, cert, key, 1), CAFile: cert, out: filepath.Join(dir, "rsyslog.out")}
	r.TCP, r.TLS = FreeAddr(t), FreeAddr(t)
	_, plain, _ := net.SplitHostPort(r.TCP)
	_, secure, _ := net.SplitHostPort(r.TLS)
	conf := fmt.Sprintf(`global(workDirectory=%[1]q defaultNetstreamDriverCAFile=%[2]q defaultNetstreamDriverCertFile=%[2]q defaultNetstreamDriverKeyFile=%[3]q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%[4]s" name="tcp")
input(type="imtcp" address="127.0.0.1" port="%[5]s" name="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="parsed" type="string" string="%%inputname%% host=%%hostname%% app=%%app-name%% msgid=%%msgid%% pri=%%pri%% sd=%%structured-data%% msg=%%msg%%\n")
*.* action(type="omfile" file=%[6]q template="parsed")
`, dir, cert, key, plain, secure, r.out)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd: %s", log.String())
		}
	})
	return r
}

// Output is what rsyslog logged so far.
func (r *Rsyslog) Output() string {
	data, _ := os.ReadFile(r.out)
	return string(data)
}

// WaitFor waits until rsyslog logged a line holding each of want, and fails the test after timeout.
func (r *Rsyslog) WaitFor(t testing.TB, timeout time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.Output()
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog did not log, within %s:\n%s\nit logged:\n%s", timeout, missing, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
