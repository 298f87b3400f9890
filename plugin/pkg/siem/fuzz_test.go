package siem

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzEncode: whatever the event's fields (query names and devices come from outside), a frame is
// "LEN SP MSG" with LEN the message's length, its header has seven fields, and the structured data holds
// every '"' and ']' of a value escaped, so that it closes where it should: just before the message.
func FuzzEncode(f *testing.F) {
	f.Add("evil.example.", "gw", `a action=accept policy=victim]"x\y`, false)
	f.Add("", "", "", true)
	f.Fuzz(func(t *testing.T, qname, device, list string, cef bool) {
		s := &Sender{Hostname: "h o\nst"}
		if cef {
			s.Format = CEF
		}
		frame := s.encode(Event{Time: time.Unix(1796688560, 0), Kind: "hit", Policy: "demo", QName: qname, Device: device, List: list, Action: "drop"})
		sp := bytes.IndexByte(frame, ' ')
		n, err := strconv.Atoi(string(frame[:sp]))
		if err != nil || n != len(frame)-sp-1 {
			t.Fatalf("frame %q: length %q for %d bytes", frame, frame[:sp], len(frame)-sp-1)
		}
		msg := string(frame[sp+1:])
		head := strings.SplitN(msg, " ", 8)
		if len(head) < 8 || head[2] != "host" || head[3] != "threatstop" || head[5] != "hit" {
			t.Fatalf("header of %q", msg)
		}
		if !cef {
			sd := head[7]
			// The SD element ends at the first ']' that no '\' escapes.
			end := -1
			for i := 0; i < len(sd); i++ {
				if sd[i] == '\\' {
					i++
					continue
				}
				if sd[i] == ']' {
					end = i
					break
				}
			}
			if end < 0 || !strings.HasPrefix(sd[end+1:], ` policy="demo"`) {
				t.Fatalf("structured data of %q ends at %d", msg, end)
			}
		}
	})
}
