package threatfirewall

import (
	"io"
	"sync"
)

// decisionLog writes the firewall's decision lines to standard output, where CoreDNS's own log goes,
// from one goroutine: a query only formats its line and hands it over, so a burst of blocked queries
// costs one write per batch instead of one system call per query. When the writer falls behind by
// decisionLogQueue lines, further lines are counted as dropped rather than slowing queries down. The
// goroutine runs between start and stop (OnStartup and OnShutdown); lines queued before start wait.
type decisionLog struct {
	lines chan string
	out   io.Writer
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

const decisionLogQueue = 1 << 14

func newDecisionLog(out io.Writer) *decisionLog {
	return &decisionLog{lines: make(chan string, decisionLogQueue), out: out, done: make(chan struct{})}
}

// print queues one line (without the trailing newline).
func (d *decisionLog) print(line string) {
	select {
	case d.lines <- line:
	default:
		decisionLogDropped.Inc()
	}
}

func (d *decisionLog) start() {
	d.wg.Add(1)
	go d.run()
}

// stop writes what is queued and ends the goroutine. Queries of a configuration being replaced may still
// queue lines afterwards; they are not written (the new configuration's firewall writes its own).
func (d *decisionLog) stop() {
	d.once.Do(func() { close(d.done) })
	d.wg.Wait()
}

// run writes the lines in batches of whole lines, one Write each. A bufio.Writer would write its buffer
// out whenever it fills, in the middle of a line, and the other writers of standard output (CoreDNS's log,
// one whole line per Write) could then land inside a decision line; writes to one *os.File do not
// interleave, so whole-line batches keep every line whole.
func (d *decisionLog) run() {
	defer d.wg.Done()
	const batch = 64 << 10
	buf := make([]byte, 0, batch)
	for {
		var line string
		select {
		case line = <-d.lines:
		case <-d.done:
			select { // stopping: what is queued still goes out
			case line = <-d.lines:
			default:
				return // buf is empty: it is written out whenever the queue is
			}
		}
		buf = append(buf, line...)
		buf = append(buf, '\n')
		if len(d.lines) == 0 || len(buf) >= batch-512 { // nothing more waiting, or full: out with the batch
			d.out.Write(buf)
			buf = buf[:0]
		}
	}
}
