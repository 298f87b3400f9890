package threatstop

import (
	"io"
	"os"
	"sync"
)

// decisionLog writes the firewall's decision lines to standard output, where CoreDNS's own log goes,
// from one goroutine: a query only formats its line and hands it over, so a burst of blocked queries
// costs one write per batch instead of one system call per query. When the writer falls behind by
// decisionLogQueue lines, further lines are counted as dropped rather than slowing queries down.
type decisionLog struct {
	once  sync.Once
	lines chan string
	out   io.Writer
}

const decisionLogQueue = 1 << 14

var decisionOut = &decisionLog{out: os.Stdout}

// print queues one line (without the trailing newline).
func (d *decisionLog) print(line string) {
	d.once.Do(func() {
		d.lines = make(chan string, decisionLogQueue)
		go d.run()
	})
	select {
	case d.lines <- line:
	default:
		decisionLogDropped.Inc()
	}
}

// run writes the lines in batches of whole lines, one Write each. A bufio.Writer would write its buffer
// out whenever it fills, in the middle of a line, and the other writers of standard output (CoreDNS's log,
// one whole line per Write) could then land inside a decision line; writes to one *os.File do not
// interleave, so whole-line batches keep every line whole.
func (d *decisionLog) run() {
	const batch = 64 << 10
	buf := make([]byte, 0, batch)
	for line := range d.lines {
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if len(d.lines) == 0 || len(buf) >= batch-512 { // nothing more waiting, or full: out with the batch
			d.out.Write(buf)
			buf = buf[:0]
		}
	}
}
