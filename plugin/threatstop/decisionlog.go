package threatstop

import (
	"bufio"
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

func (d *decisionLog) run() {
	w := bufio.NewWriterSize(d.out, 64<<10)
	for line := range d.lines {
		w.WriteString(line)
		w.WriteByte('\n')
		if len(d.lines) == 0 { // nothing more waiting: out with the batch
			w.Flush()
		}
	}
}
