package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The files of deploy/ and the Dockerfile: what can be checked without a Docker engine or systemd as
// the init (promtool checks the rules in `make check`; the startup test checks that the dashboard's
// and rules' metrics exist).

// TestSystemdUnit: systemd-analyze verify accepts deploy/systemd/threatstop.service, with its ExecStart
// pointing at the binary under test, and prints nothing (a misspelt setting is only a warning).
func TestSystemdUnit(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze not found (.ci/run installs systemd): %v", err)
		}
		t.Skipf("systemd-analyze not found: %v", err)
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy/systemd/threatstop.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/threatstop -conf /etc/threatstop/Corefile\n") {
		t.Fatal("the unit's ExecStart is not /usr/local/bin/threatstop -conf /etc/threatstop/Corefile")
	}
	for _, want := range []string{"User=threatstop", "NoNewPrivileges=true", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ExecReload=/bin/kill -USR1 $MAINPID"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "threatstop.service")
	writeFile(t, file, strings.Replace(string(unit), "/usr/local/bin/threatstop", binary, 1))
	out, err := exec.Command(tool, "verify", file).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfile: the image builds the binaries with the Go of go.mod in its first stage and runs
// threatstop as a non-root user in the second. (No Docker engine here: the build itself is not run.)
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?$`).FindAllSubmatch(df, -1)
	if goVer == nil || len(froms) != 2 {
		t.Fatalf("go.mod's go %q; the Dockerfile has %d stages, want 2", goVer, len(froms))
	}
	if img := string(froms[0][1]); !strings.HasPrefix(img, "golang:"+string(goVer[1])) || string(froms[0][2]) != "build" {
		t.Errorf("the build stage is %s (AS %s), want golang:%s… AS build", img, froms[0][2], goVer[1])
	}
	if !strings.Contains(string(df), "go build -trimpath -ldflags='-s -w' -o /out/bin/ ./cmd/...") {
		t.Error("the build stage does not build ./cmd/...")
	}
	final := string(df[strings.LastIndex(string(df), "\nFROM "):])
	user := regexp.MustCompile(`(?m)^USER (\S+)$`).FindStringSubmatch(final)
	if user == nil || strings.HasPrefix(user[1], "root") || strings.HasPrefix(user[1], "0") {
		t.Errorf("the final stage's USER: %v, want a non-root user", user)
	}
	if !strings.Contains(final, `ENTRYPOINT ["/usr/local/bin/threatstop"]`) {
		t.Error("the final stage does not run /usr/local/bin/threatstop")
	}
}

// TestGrafanaDashboard: deploy/grafana/threatstop.json is a dashboard whose every panel has a query of a
// threatstop metric, on the dashboard's Prometheus data source variable.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy/grafana/threatstop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct{ UID string }
			Targets    []struct{ Expr string }
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard %q (uid %q) with %d panels", d.Title, d.UID, len(d.Panels))
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["policy"] != "query" {
		t.Errorf("template variables %v, want datasource and policy", vars)
	}
	for _, p := range d.Panels {
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "coredns_threat") {
				t.Errorf("panel %q: query %q names no threatstop metric", p.Title, q.Expr)
			}
		}
	}
}
