package logparse

import (
	"strconv"
	"strings"
	"time"
)

// leadingTime reads the timestamp a line starts with, in the forms syslog daemons, journald, BIND,
// Unbound, ASA and tcpdump write, and returns it with the rest of the line. A line without one (or with
// a tcpdump delta time) gets the zero time, which the caller replaces by p.Now.
func (p *Parser) leadingTime(line string) (time.Time, string) {
	p.defaults()
	if len(line) > 2 && line[0] == '<' { // an RFC 3164/5424 priority: <34>1 2026-... or <34>Nov 23 ...
		if i := strings.IndexByte(line, '>'); i > 0 && i < 5 {
			line = line[i+1:]
			line = strings.TrimPrefix(line, "1 ")
		}
	}
	if len(line) > 12 && line[0] == '[' { // Unbound: [1700000000] unbound[...]
		if i := strings.IndexByte(line, ']'); i > 1 {
			if n, err := strconv.ParseInt(line[1:i], 10, 64); err == nil {
				return time.Unix(n, 0).UTC(), strings.TrimLeft(line[i+1:], " ")
			}
		}
	}
	// RFC 3339 (journald, rsyslog's high-precision format, syslog-ng ISO) or "2026-11-23 15:23:34.123".
	if len(line) >= 19 && line[4] == '-' && line[7] == '-' && (line[10] == 'T' || line[10] == ' ') {
		end := strings.IndexByte(line[11:], ' ')
		if end < 0 {
			end = len(line)
		} else {
			end += 11
		}
		s := line[:end]
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), strings.TrimLeft(line[end:], " ")
		}
		if line[10] == ' ' { // date, space, time
			end2 := strings.IndexByte(line[11:], ' ')
			if end2 > 0 {
				s := line[:11+end2]
				if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, p.Loc); err == nil {
					return t.UTC(), strings.TrimLeft(line[11+end2:], " ")
				}
			}
		}
	}
	// BIND's own file format: 23-Nov-2026 15:23:34.123
	if len(line) >= 20 && line[2] == '-' && line[6] == '-' && line[11] == ' ' {
		end := strings.IndexByte(line[12:], ' ')
		if end > 0 {
			if t, err := time.ParseInLocation("02-Jan-2006 15:04:05.999999999", line[:12+end], p.Loc); err == nil {
				return t.UTC(), strings.TrimLeft(line[12+end:], " ")
			}
		}
	}
	// BSD syslog "Nov 23 15:23:34" (or "Nov  3"), with optional fraction (tcpdump -ttt on OpenBSD), or
	// ASA's "Nov 23 2026 15:23:34".
	if len(line) >= 15 && line[3] == ' ' && isMonth(line[:3]) {
		rest := line[4:]
		rest = strings.TrimLeft(rest, " ")
		day, rest, ok := strings.Cut(rest, " ")
		if !ok {
			return time.Time{}, line
		}
		year := ""
		if len(rest) > 5 && rest[4] == ' ' && isDigits(rest[:4]) {
			year, rest = rest[:4], rest[5:]
		}
		clock, rest, _ := strings.Cut(rest, " ")
		clock = strings.TrimSuffix(clock, ":")
		y := p.Now.In(p.Loc).Year()
		if year != "" {
			y, _ = strconv.Atoi(year)
		}
		t, err := time.ParseInLocation("2006 Jan 2 15:04:05.999999999", strconv.Itoa(y)+" "+line[:3]+" "+day+" "+clock, p.Loc)
		if err != nil {
			return time.Time{}, line
		}
		if year == "" && t.After(p.Now.Add(48*time.Hour)) { // December's lines read in January
			t = t.AddDate(-1, 0, 0)
		}
		return t.UTC(), strings.TrimLeft(rest, " ")
	}
	return time.Time{}, line
}

func isMonth(s string) bool {
	switch s {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (p *Parser) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return p.Now.UTC()
	}
	return t
}
