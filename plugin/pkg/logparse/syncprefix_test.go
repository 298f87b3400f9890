package logparse

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// syncLogPrefix reads the constant LogPrefix of threatstop-sync's backend package from its source: the
// package is internal to cmd/threatstop-sync, so it cannot be imported here.
func syncLogPrefix(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "cmd", "threatstop-sync", "internal", "backend")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("threatstop-sync's backend sources in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != "LogPrefix" {
						continue
					}
					var lit *ast.BasicLit
					if i < len(vs.Values) {
						lit, _ = vs.Values[i].(*ast.BasicLit)
					}
					if lit == nil || lit.Kind != token.STRING {
						t.Fatal("backend.LogPrefix is not a string literal any more: update this test")
					}
					return constant.StringVal(constant.MakeFromLiteral(lit.Value, lit.Kind, 0))
				}
			}
		}
	}
	t.Fatalf("no const LogPrefix in %s", dir)
	return ""
}

// threatstop-sync's drop rules log "LogPrefix in " / "LogPrefix out "; the parser's default must read
// them as threatstop-sync's, with their direction, or every uploaded drop is misfiled.
func TestDefaultSyncPrefixIsThreatstopSyncs(t *testing.T) {
	lp := syncLogPrefix(t)
	if strings.TrimSpace(lp) != DefaultSyncPrefix {
		t.Fatalf("threatstop-sync logs with prefix %q, the parser's default is %q", lp, DefaultSyncPrefix)
	}
	p := &Parser{Now: now}
	for dir, want := range map[string]Direction{"in ": Inbound, "out ": Outbound} {
		line := "Nov 23 15:21:00 gw kernel: [9001.000001] " + lp + dir + "IN=eth0 OUT= SRC=1.10.16.5 DST=192.168.1.20 PROTO=TCP SPT=443 DPT=51300"
		ev, ok := p.Line(line)
		if !ok || ev.Format != ThreatstopSyn || ev.Dir != want || ev.Action != "drop" {
			t.Errorf("%q: %v %+v, want %s %s drop", line, ok, ev, ThreatstopSyn, want)
		}
	}
}
