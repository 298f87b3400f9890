package threatlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/threatstop/threatstop/plugin/pkg/policy"
	"github.com/threatstop/threatstop/plugin/pkg/snapshot"
)

// External dynamic lists: GET /edl/POLICY/FILE serves the policy's content as the plain lists that
// firewalls fetch by HTTP (Palo Alto EDL, FortiGate external threat feed, Check Point, Cisco FMC security
// intelligence, pfSense URL table, MikroTik by a script), authorised by a device token of the policy
// (Bearer, or HTTP Basic with the policy as user name, as those devices send it). The lists are what the
// policy blocks, flattened as for the DNS list pages (allow carve-outs cut out of the prefixes around
// them), its choice by score when it makes one. ?max=N, or the device's edl_max, keeps the N highest
// scored entries (ties in address or name order). The ETag is the policy's serial: a device that sends
// If-None-Match with it gets 304 and no body until the policy changes (a capped list's tag also holds a
// digest of the list: its choice moves with scores).

// edlFile is one list a policy serves.
type edlFile struct {
	v4, v6, names, allowNames bool
	mikrotik                  bool // a RouterOS script that replaces an address list
	contentType               string
}

var edlFiles = map[string]edlFile{
	"ipv4.txt":          {v4: true},
	"ipv6.txt":          {v6: true},
	"domains.txt":       {names: true},
	"allow-domains.txt": {allowNames: true}, // the exceptions a device that blocks domains.txt's wildcards must make
	"pfsense.txt":       {v4: true, v6: true},
	"mikrotik.rsc":      {v4: true, v6: true, mikrotik: true},
}

// edlMaxLimit bounds ?max: no device takes more.
const edlMaxLimit = 10_000_000

var listNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (t *Threatlog) serveEDL(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/edl/")
	pol, file, ok := strings.Cut(rest, "/")
	f, known := edlFiles[file]
	if !ok || !known {
		httpError(w, http.StatusNotFound, "GET /edl/POLICY/ipv4.txt, ipv6.txt, domains.txt, allow-domains.txt, pfsense.txt or mikrotik.rsc")
		return
	}
	wh, ok := t.authenticate(w, r, nil)
	if !ok {
		edlRequests.WithLabelValues(file, "401").Inc()
		return
	}
	st := t.state.Load()
	sp := st.Blocks[t.block].Policy(pol)
	if sp == nil || wh.policy != pol {
		// Another customer's policy answers as one that does not exist: its name is not confirmed.
		edlRequests.WithLabelValues(file, "404").Inc()
		httpError(w, http.StatusNotFound, "no policy "+strconv.Quote(pol)+" for these credentials")
		return
	}
	n := t.edlMax[pol+"/"+wh.device]
	if q := r.URL.Query().Get("max"); q != "" {
		m, err := strconv.Atoi(q)
		if err != nil || m < 1 || m > edlMaxLimit {
			edlRequests.WithLabelValues(file, "400").Inc()
			httpError(w, http.StatusBadRequest, fmt.Sprintf("max must be a number from 1 to %d", edlMaxLimit))
			return
		}
		if n == 0 || m < n {
			n = m
		}
	}
	list := "threatstop-" + pol
	if q := r.URL.Query().Get("list"); q != "" && f.mikrotik {
		if !listNameRE.MatchString(q) {
			edlRequests.WithLabelValues(file, "400").Inc()
			httpError(w, http.StatusBadRequest, "list must be letters, digits, '.', '_' or '-', at most 64")
			return
		}
		list = q
	}
	serial := st.Serial(sp)
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	tag := strconv.FormatUint(uint64(serial), 10)
	var body []byte
	if n > 0 {
		// A capped list depends on scores too, which move with lists the policy does not use and leave
		// its serial as it is: its tag is the serial and a digest of the list itself.
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeEDL(bw, f, sp.Policy, st.SnapOf(sp), st.Snap, n, list, serial)
		bw.Flush()
		body = buf.Bytes()
		sum := sha256.Sum256(body)
		tag += "-" + hex.EncodeToString(sum[:8])
	}
	if gz {
		tag += ".gz" // another representation, another strong tag
	}
	h := w.Header()
	h.Set("ETag", `"`+tag+`"`)
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Vary", "Accept-Encoding, Authorization")
	h.Set("X-Threatstop-Serial", strconv.FormatUint(uint64(serial), 10))
	if noneMatch(r.Header.Get("If-None-Match"), tag) {
		edlRequests.WithLabelValues(file, "304").Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if gz {
		h.Set("Content-Encoding", "gzip")
	}
	edlRequests.WithLabelValues(file, "200").Inc()
	if r.Method == http.MethodHead {
		return
	}
	var out io.Writer = w
	if gz {
		zw := gzip.NewWriter(w)
		defer zw.Close()
		out = zw
	}
	if body != nil {
		out.Write(body)
		return
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	defer bw.Flush()
	writeEDL(bw, f, sp.Policy, st.SnapOf(sp), st.Snap, n, list, serial)
}

// writeEDL writes list f of policy p at snapshot s (scores from scores), at most n lines of entries
// (n <= 0: all).
func writeEDL(w *bufio.Writer, f edlFile, p *policy.Policy, s, scores *snapshot.Snapshot, n int, list string, serial uint32) {
	lines := 0
	room := func() bool { return n <= 0 || lines < n }
	prefixes := func(v4 bool, line func(string)) {
		if !room() {
			return
		}
		k := 0
		if n > 0 {
			k = n - lines
		}
		p.BlockedTop(s, scores, v4, k, func(q netip.Prefix) bool {
			if !room() {
				return false
			}
			if q.IsSingleIP() {
				line(q.Addr().String())
			} else {
				line(q.String())
			}
			lines++
			return true
		})
	}
	plain := func(x string) { w.WriteString(x); w.WriteByte('\n') }
	switch {
	case f.mikrotik:
		// RouterOS: replace the list's entries with the policy's (fetch it, then /import it).
		fmt.Fprintf(w, "# threatstop policy %s, serial %d\n", p.Name, serial)
		fmt.Fprintf(w, "/ip firewall address-list remove [find where list=%q]\n/ip firewall address-list\n", list)
		prefixes(true, func(x string) { fmt.Fprintf(w, "add list=%s address=%s\n", list, x) })
		fmt.Fprintf(w, "/ipv6 firewall address-list remove [find where list=%q]\n/ipv6 firewall address-list\n", list)
		prefixes(false, func(x string) { fmt.Fprintf(w, "add list=%s address=%s\n", list, x) })
	case f.v4 || f.v6:
		if f.v4 {
			prefixes(true, plain)
		}
		if f.v6 {
			prefixes(false, plain)
		}
	case f.names:
		last := "" // the last exact name written
		p.NamesTop(s, scores, n, func(name string, sub bool) bool {
			if !room() {
				return false
			}
			if sub {
				// The name and its subdomains: the devices read *.name as the subdomains only (PAN-OS,
				// FortiGate), so the name itself too, unless its exact entry came just before.
				if last != name {
					if n > 0 && lines+2 > n {
						return true // no room for both lines: a shorter entry may still fit
					}
					plain(name)
					lines++
				}
				plain("*." + name)
			} else {
				plain(name)
				last = name
			}
			lines++
			return true
		})
	case f.allowNames:
		p.AllowedNames(s, func(name string, sub bool) bool {
			if sub {
				plain("*." + name)
			}
			plain(name)
			return true
		})
	}
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (q not 0).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if c := strings.ToLower(strings.TrimSpace(coding)); c != "gzip" && c != "x-gzip" && c != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// noneMatch reports whether an If-None-Match header names tag (the opaque tag of the representation
// that would be sent, weak or strong: a GET compares weakly, RFC 9110 13.1.2) or is "*".
func noneMatch(h, tag string) bool {
	for _, t := range strings.Split(h, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == `"`+tag+`"` {
			return true
		}
	}
	return false
}
